//! What must outlive a restart, owned by one store: where each incident
//! lives in Discord, how far the mirror has shown it, what was already
//! shown (or written by the bot itself), and which messages became
//! timeline events.
//!
//! | implementation | for |
//! |---|---|
//! | [`sqlite::SqliteStore`] | one process: an embedded SQLite database (the default) |
//! | [`memory::MemoryStore`] | unit tests |
//! | [`dynamodb::DynamoStore`] | several replicas: one DynamoDB table they share |
//!
//! What replicas must agree on from moment to moment (who handles an
//! interaction, how many uses a user has left, which replica runs the
//! mirror) is the [`Coordinator`]: [`local::Local`] in memory for one
//! process, the DynamoDB store for several.

#[cfg(any(test, feature = "fault-injection"))]
pub mod contract;
pub mod dynamodb;
pub mod local;
pub mod memory;
pub mod sqlite;

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::limits::Window;
use crate::domain::{IncidentArn, Status};

/// Where an incident lives in Discord.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    pub incident: IncidentArn,
    pub guild: u64,
    /// The thread (or channel) the incident's changes are posted in.
    pub channel: u64,
    /// Whether `channel` is a thread (archived once the incident is done).
    pub thread: bool,
    /// The confirmation message kept current, when the bot declared it:
    /// (channel, message).
    pub confirmation: Option<(u64, u64)>,
}

/// How far the mirror has shown an incident, and what it showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The newest timeline event seen (Unix ms); the next look starts a
    /// little before it, and what was seen is not shown again.
    pub events_after_ms: i64,
    pub title: String,
    pub impact: i32,
    pub status: Status,
    /// Unix ms.
    pub created_ms: i64,
    pub resolved_ms: Option<i64>,
    /// Every impact the incident had, with when: (Unix ms, impact).
    pub impact_history: Vec<(i64, i32)>,
    /// Who took part: Discord mentions (`<@id>`) and AWS principals.
    pub participants: BTreeSet<String>,
    pub summary_posted: bool,
    /// When the thread is to be archived (Unix ms), once summarised.
    pub archive_at_ms: Option<i64>,
}

/// Why a key is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The bot wrote it (a note, a link, its declaration): never mirrored.
    Own,
    /// The mirror showed it.
    Shown,
}

impl Mark {
    fn as_str(self) -> &'static str {
        match self {
            Self::Own => "own",
            Self::Shown => "shown",
        }
    }
}

/// A failure of the store itself (the disk, the database).
#[derive(Debug, thiserror::Error)]
#[error("the store failed: {0}")]
pub struct StoreError(pub String);

/// The store's operations, each one transaction.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Remembers `home` with its first `checkpoint`; an incident already
    /// homed keeps its checkpoint (and gets the new home's confirmation if
    /// it had none).
    async fn put_home(&self, home: &Home, checkpoint: &Checkpoint) -> Result<(), StoreError>;

    /// The incidents the mirror follows, with their checkpoints.
    async fn homes(&self) -> Result<Vec<(Home, Checkpoint)>, StoreError>;

    /// The incident living in `channel` (a thread), if one does.
    async fn home_in(&self, channel: u64) -> Result<Option<Home>, StoreError>;

    /// `incident`'s home and checkpoint, followed or done.
    async fn home_of(&self, incident: &IncidentArn) -> Result<Option<(Home, Checkpoint)>, StoreError>;

    async fn save_checkpoint(&self, incident: &IncidentArn, checkpoint: &Checkpoint) -> Result<(), StoreError>;

    /// The mirror is done with `incident` (resolved, summarised, archived):
    /// it is no longer followed. Its marks are kept (a reopened incident is
    /// followed again without showing anything twice) and forgotten with the
    /// home, 30 days later.
    async fn finish(&self, incident: &IncidentArn) -> Result<(), StoreError>;

    /// Follows a finished (or summarised) `incident` again, from `checkpoint`:
    /// it was reopened.
    async fn follow_again(&self, incident: &IncidentArn, checkpoint: &Checkpoint) -> Result<(), StoreError>;

    /// Marks `key` (an event id, a related item) of `incident`; `false` when
    /// it was already marked (either way).
    async fn mark(&self, incident: &IncidentArn, key: &str, mark: Mark) -> Result<bool, StoreError>;

    /// Whether `key` of `incident` is marked.
    async fn marked(&self, incident: &IncidentArn, key: &str) -> Result<bool, StoreError>;

    /// Claims message `message` for `incident`'s timeline: `None` when it is
    /// new, else the incident it already went to.
    async fn claim_message(&self, message: u64, incident: &IncidentArn) -> Result<Option<IncidentArn>, StoreError>;

    /// Undoes a claim whose write failed.
    async fn release_message(&self, message: u64) -> Result<(), StoreError>;
}

/// What the replicas of one bot agree on as they go. Every answer is
/// atomic across replicas (for the shared store: one conditional write).
#[async_trait]
pub trait Coordinator: Send + Sync + 'static {
    /// Whether other processes share it (replicas): then the bot's writes
    /// on one replica and the mirror's looks on another do not take turns.
    fn shared(&self) -> bool {
        false
    }

    /// Claims interaction `id`: `true` the first time any replica claims it
    /// (within [`crate::bot::DEDUPE_WINDOW`]), `false` for a repeated
    /// delivery.
    async fn claim_interaction(&self, id: u64) -> Result<bool, StoreError>;

    /// Records one use at `now_ms` under every key (each with its sliding
    /// window) if every window has room: `None`. Otherwise records nothing
    /// and gives the index of the first full key and the time until it has
    /// room.
    async fn acquire(&self, keys: &[(String, Window)], now_ms: i64) -> Result<Option<(usize, Duration)>, StoreError>;

    /// Takes lease `name` for `holder`, or renews it, for `ttl`: `true` when
    /// `holder` holds it now. A lease held by another is free once its time
    /// is up.
    async fn lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Gives lease `name` up, if `holder` holds it (a shutdown: another
    /// replica takes it at its next try).
    async fn release(&self, name: &str, holder: &str) -> Result<(), StoreError>;
}
