//! [`Store`] on an embedded SQLite database (rusqlite, with SQLite built
//! in: no system library to match, and the same engine everywhere).
//!
//! One connection, owned by the store's own thread, is the one writer;
//! calls queue for that thread and await its answer. WAL journal, `synchronous = NORMAL` (a power cut can
//! lose the last transactions, never corrupt the file). The schema is
//! versioned in `PRAGMA user_version` and migrated forward at open.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::mpsc;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::{Checkpoint, Home, Mark, Store, StoreError};
use crate::domain::IncidentArn;

/// The migrations, in order; `user_version` is how many have run.
const MIGRATIONS: &[&str] = &[
    // 1: homes, checkpoints, marks, messages.
    "CREATE TABLE homes (
         incident TEXT PRIMARY KEY,
         guild INTEGER NOT NULL,
         channel INTEGER NOT NULL,
         thread INTEGER NOT NULL,
         confirmation_channel INTEGER,
         confirmation_message INTEGER,
         checkpoint TEXT NOT NULL,
         -- Unix ms when the mirror was done with it; NULL while followed.
         finished_at INTEGER
     );
     CREATE INDEX homes_channel ON homes (channel);
     CREATE TABLE marks (
         incident TEXT NOT NULL,
         key TEXT NOT NULL,
         mark TEXT NOT NULL,
         at INTEGER NOT NULL,
         PRIMARY KEY (incident, key)
     ) WITHOUT ROWID;
     CREATE TABLE messages (
         message INTEGER PRIMARY KEY,
         incident TEXT NOT NULL,
         at INTEGER NOT NULL
     );",
];

/// How long a claimed message, and a finished incident with its marks, are
/// kept (a message added again after that goes to the timeline again;
/// Incident Manager keeps client tokens for less).
const KEEP_DAYS: i64 = 30;

/// See the module documentation.
#[derive(Clone)]
pub struct SqliteStore {
    /// The store's thread, which owns the connection: one writer, and one
    /// thread however many callers wait (tokio's blocking pool would start
    /// a thread per waiting caller, up to 512, in a burst of declarations).
    jobs: mpsc::Sender<Job>,
}

/// A unit of work for the store's thread.
type Job = Box<dyn FnOnce(&Connection) + Send>;

fn failed(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

impl SqliteStore {
    /// Opens (creating it if needed) the database at `path`, and migrates it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
        Self::setup(conn)
    }

    /// A database in memory (tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::setup(Connection::open_in_memory().map_err(failed)?)
    }

    fn setup(conn: Connection) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL").map_err(failed)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(failed)?;
        // Temporary tables in memory: the container's root is read-only.
        conn.pragma_update(None, "temp_store", "MEMORY").map_err(failed)?;
        // A page cache of 512 KiB (SQLite's default is 2 MiB): the database
        // holds a few rows per incident, and a bot at rest should not keep
        // pages it read once.
        conn.pragma_update(None, "cache_size", -512).map_err(failed)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(failed)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(failed)?;
        let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
        if version > known {
            return Err(StoreError(format!(
                "the database is at schema version {version}, newer than this incident-bot ({}): upgrade the bot",
                MIGRATIONS.len()
            )));
        }
        for (n, sql) in (1..).zip(MIGRATIONS).skip(usize::try_from(version).unwrap_or(0)) {
            let tx = conn.unchecked_transaction().map_err(failed)?;
            tx.execute_batch(sql).map_err(failed)?;
            tx.pragma_update(None, "user_version", n).map_err(failed)?;
            tx.commit().map_err(failed)?;
        }
        // What is old enough to forget: claimed messages, and incidents the
        // mirror finished with, with their marks.
        let cutoff = now_ms() - KEEP_DAYS * 86_400_000;
        conn.execute_batch(&format!(
            "BEGIN;
             DELETE FROM messages WHERE at < {cutoff};
             DELETE FROM marks WHERE incident IN (SELECT incident FROM homes WHERE finished_at < {cutoff});
             DELETE FROM homes WHERE finished_at < {cutoff};
             COMMIT;"
        ))
        .map_err(failed)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("store".into())
            .spawn(move || {
                // Ends when the last handle to the store is dropped.
                for job in queue {
                    // A panic fails that one call (its caller sees the
                    // thread's answer dropped), not the store.
                    let _ = catch_unwind(AssertUnwindSafe(|| job(&conn)));
                }
            })
            .map_err(|e| StoreError(format!("cannot start the store's thread: {e}")))?;
        Ok(Self { jobs })
    }

    /// Runs `f` on the connection, on the store's thread, in turn.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            // A caller that went away does not want the answer.
            let _ = tx.send(f(conn));
        });
        self.jobs.send(job).map_err(|_| StoreError("the store's thread has stopped".into()))?;
        rx.await.map_err(|_| StoreError("the store's thread has stopped".into()))?.map_err(failed)
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn home_of_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Home, String)> {
    let arn: String = r.get(0)?;
    let incident = IncidentArn::parse(&arn)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))?;
    let confirmation = match (r.get::<_, Option<i64>>(3)?, r.get::<_, Option<i64>>(4)?) {
        (Some(c), Some(m)) => Some((c.cast_unsigned(), m.cast_unsigned())),
        _ => None,
    };
    let home = Home {
        incident,
        guild: r.get::<_, i64>(1)?.cast_unsigned(),
        channel: r.get::<_, i64>(2)?.cast_unsigned(),
        thread: r.get::<_, i64>(6)? != 0,
        confirmation,
    };
    Ok((home, r.get(5)?))
}

fn checkpoint_of(json: &str) -> rusqlite::Result<Checkpoint> {
    serde_json::from_str(json)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(5, rusqlite::types::Type::Text, Box::new(e)))
}

const HOME_COLUMNS: &str = "incident, guild, channel, confirmation_channel, confirmation_message, checkpoint, thread";

#[async_trait]
impl Store for SqliteStore {
    async fn put_home(&self, home: &Home, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        let (home, json) = (home.clone(), serde_json::to_string(checkpoint).map_err(failed)?);
        self.with(move |c| {
            let (cc, cm) = home.confirmation.map_or((None, None), |(c, m)| (Some(to_i64(c)), Some(to_i64(m))));
            c.execute(
                "INSERT INTO homes (incident, guild, channel, confirmation_channel, confirmation_message, checkpoint, thread)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (incident) DO UPDATE SET
                     confirmation_channel = COALESCE(confirmation_channel, excluded.confirmation_channel),
                     confirmation_message = COALESCE(confirmation_message, excluded.confirmation_message)",
                params![home.incident.as_str(), to_i64(home.guild), to_i64(home.channel), cc, cm, json, i64::from(home.thread)],
            )
            .map(drop)
        })
        .await
    }

    async fn homes(&self) -> Result<Vec<(Home, Checkpoint)>, StoreError> {
        self.with(|c| {
            let mut q =
                c.prepare(&format!("SELECT {HOME_COLUMNS} FROM homes WHERE finished_at IS NULL ORDER BY rowid"))?;
            let rows = q.query_map([], home_of_row)?;
            rows.map(|r| r.and_then(|(h, json)| Ok((h, checkpoint_of(&json)?)))).collect()
        })
        .await
    }

    async fn home_in(&self, channel: u64) -> Result<Option<Home>, StoreError> {
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {HOME_COLUMNS} FROM homes WHERE channel = ?1 ORDER BY finished_at IS NOT NULL, rowid DESC LIMIT 1"),
                params![to_i64(channel)],
                home_of_row,
            )
            .optional()
            .map(|h| h.map(|(h, _)| h))
        })
        .await
    }

    async fn home_of(&self, incident: &IncidentArn) -> Result<Option<(Home, Checkpoint)>, StoreError> {
        let arn = incident.as_str().to_owned();
        self.with(move |c| {
            let row = c
                .query_row(&format!("SELECT {HOME_COLUMNS} FROM homes WHERE incident = ?1"), params![arn], home_of_row)
                .optional()?;
            row.map(|(h, json)| Ok((h, checkpoint_of(&json)?))).transpose()
        })
        .await
    }

    async fn save_checkpoint(&self, incident: &IncidentArn, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        let (arn, json) = (incident.as_str().to_owned(), serde_json::to_string(checkpoint).map_err(failed)?);
        self.with(move |c| {
            c.execute("UPDATE homes SET checkpoint = ?2 WHERE incident = ?1", params![arn, json]).map(drop)
        })
        .await
    }

    async fn finish(&self, incident: &IncidentArn) -> Result<(), StoreError> {
        let arn = incident.as_str().to_owned();
        self.with(move |c| {
            c.execute("UPDATE homes SET finished_at = ?2 WHERE incident = ?1", params![arn, now_ms()]).map(drop)
        })
        .await
    }

    async fn follow_again(&self, incident: &IncidentArn, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        let (arn, json) = (incident.as_str().to_owned(), serde_json::to_string(checkpoint).map_err(failed)?);
        self.with(move |c| {
            c.execute("UPDATE homes SET finished_at = NULL, checkpoint = ?2 WHERE incident = ?1", params![arn, json])
                .map(drop)
        })
        .await
    }

    async fn mark(&self, incident: &IncidentArn, key: &str, mark: Mark) -> Result<bool, StoreError> {
        let (arn, key) = (incident.as_str().to_owned(), key.to_owned());
        self.with(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO marks (incident, key, mark, at) VALUES (?1, ?2, ?3, ?4)",
                params![arn, key, mark.as_str(), now_ms()],
            )
            .map(|n| n == 1)
        })
        .await
    }

    async fn marked(&self, incident: &IncidentArn, key: &str) -> Result<bool, StoreError> {
        let (arn, key) = (incident.as_str().to_owned(), key.to_owned());
        self.with(move |c| {
            c.query_row("SELECT 1 FROM marks WHERE incident = ?1 AND key = ?2", params![arn, key], |_| Ok(()))
                .optional()
                .map(|r| r.is_some())
        })
        .await
    }

    async fn claim_message(&self, message: u64, incident: &IncidentArn) -> Result<Option<IncidentArn>, StoreError> {
        let arn = incident.as_str().to_owned();
        self.with(move |c| {
            let tx = c.unchecked_transaction()?;
            let existing: Option<String> = tx
                .query_row("SELECT incident FROM messages WHERE message = ?1", params![to_i64(message)], |r| r.get(0))
                .optional()?;
            if existing.is_none() {
                tx.execute(
                    "INSERT INTO messages (message, incident, at) VALUES (?1, ?2, ?3)",
                    params![to_i64(message), arn, now_ms()],
                )?;
            }
            tx.commit()?;
            Ok(existing.and_then(|a| IncidentArn::parse(&a).ok()))
        })
        .await
    }

    async fn release_message(&self, message: u64) -> Result<(), StoreError> {
        self.with(move |c| c.execute("DELETE FROM messages WHERE message = ?1", params![to_i64(message)]).map(drop))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::contract::{arn, checkpoint};

    /// An empty directory for one test (tests run in parallel): a
    /// write-ahead log left by an earlier run would be replayed into a new
    /// database of the same name.
    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("incident-bot-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn a_call_that_panics_fails_alone() {
        let s = SqliteStore::in_memory().unwrap();
        let e = s.with(|_| -> rusqlite::Result<()> { panic!("a bug in one call") }).await;
        assert!(e.is_err(), "the panicking call fails");
        assert!(s.mark(&arn(1), "event-a", Mark::Own).await.unwrap(), "the store still answers");
    }

    #[tokio::test]
    async fn what_is_stored_survives_a_reopen() {
        let dir = scratch("reopen");
        let path = dir.join("bot.db");
        {
            let s = SqliteStore::open(&path).unwrap();
            let home = Home { incident: arn(1), guild: 10, channel: 20, thread: true, confirmation: Some((30, 40)) };
            s.put_home(&home, &checkpoint()).await.unwrap();
            assert!(s.mark(&arn(1), "event-a", Mark::Own).await.unwrap());
            assert!(!s.mark(&arn(1), "event-a", Mark::Shown).await.unwrap(), "marked once, whichever way");
            assert_eq!(s.claim_message(99, &arn(1)).await.unwrap(), None);
        }
        let s = SqliteStore::open(&path).unwrap();
        let homes = s.homes().await.unwrap();
        assert_eq!(homes.len(), 1);
        assert_eq!(homes[0].0.confirmation, Some((30, 40)));
        assert_eq!(homes[0].1, checkpoint());
        assert!(s.marked(&arn(1), "event-a").await.unwrap());
        assert_eq!(s.claim_message(99, &arn(2)).await.unwrap(), Some(arn(1)), "already on a timeline");
        assert_eq!(s.home_in(20).await.unwrap().map(|h| h.incident), Some(arn(1)));
        let version: i64 = s.with(|c| c.pragma_query_value(None, "user_version", |r| r.get(0))).await.unwrap();
        assert_eq!(usize::try_from(version).unwrap(), MIGRATIONS.len());
    }

    #[tokio::test]
    async fn keeps_the_store_contract() {
        crate::store::contract::store(&SqliteStore::in_memory().unwrap()).await;
    }

    #[tokio::test]
    async fn what_is_old_enough_is_forgotten_at_open() {
        let dir = scratch("prune");
        let path = dir.join("prune.db");
        let s = SqliteStore::open(&path).unwrap();
        for n in [1, 2] {
            let home =
                Home { incident: arn(n), guild: 10, channel: 20 + u64::from(n), thread: true, confirmation: None };
            s.put_home(&home, &checkpoint()).await.unwrap();
            s.mark(&arn(n), "k", Mark::Shown).await.unwrap();
            s.finish(&arn(n)).await.unwrap();
        }
        s.claim_message(7, &arn(1)).await.unwrap();
        let long_ago = now_ms() - (KEEP_DAYS + 1) * 86_400_000;
        s.with(move |c| {
            c.execute("UPDATE homes SET finished_at = ?1 WHERE channel = 21", params![long_ago])?;
            c.execute("UPDATE messages SET at = ?1", params![long_ago]).map(drop)
        })
        .await
        .unwrap();
        drop(s);
        let s = SqliteStore::open(&path).unwrap();
        assert!(s.home_of(&arn(1)).await.unwrap().is_none(), "finished long ago: forgotten");
        assert!(!s.marked(&arn(1), "k").await.unwrap());
        assert!(s.home_of(&arn(2)).await.unwrap().is_some(), "finished just now: kept");
        assert!(s.marked(&arn(2), "k").await.unwrap());
        assert_eq!(s.claim_message(7, &arn(2)).await.unwrap(), None, "an old claim is forgotten");
        drop(s);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        let e = SqliteStore::setup(conn).err().unwrap();
        assert!(e.0.contains("newer than this incident-bot"), "{e}");
    }
}
