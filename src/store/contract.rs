//! What every [`Store`] and [`Coordinator`] does, as checks run against
//! each implementation: memory and SQLite in the unit tests, DynamoDB (on
//! moto's server) in the integration tests. Test support only.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::time::Duration;

use super::{Checkpoint, Coordinator, Home, Mark, Store};
use crate::domain::limits::Window;
use crate::domain::{IncidentArn, Status};

pub fn arn(n: u32) -> IncidentArn {
    IncidentArn::parse(&format!("arn:aws:ssm-incidents::111122223333:incident-record/P/{n}")).unwrap()
}

pub fn checkpoint() -> Checkpoint {
    Checkpoint {
        events_after_ms: 1,
        title: "t".into(),
        impact: 2,
        status: Status::Open,
        created_ms: 1,
        resolved_ms: None,
        impact_history: vec![(1, 2)],
        participants: ["<@1>".to_owned()].into(),
        summary_posted: false,
        archive_at_ms: None,
    }
}

/// Homes, checkpoints, marks and message claims (on an empty store).
pub async fn store(s: &dyn Store) {
    let home = Home { incident: arn(1), guild: 10, channel: 20, thread: false, confirmation: None };
    s.put_home(&home, &checkpoint()).await.unwrap();
    let mut later = checkpoint();
    later.title = "changed".into();
    s.save_checkpoint(&arn(1), &later).await.unwrap();
    // Homed again (found by a later discovery, say): the checkpoint stays,
    // and a confirmation is learnt.
    let again = Home { confirmation: Some((1, 2)), ..home };
    s.put_home(&again, &checkpoint()).await.unwrap();
    let (h, c) = s.home_of(&arn(1)).await.unwrap().unwrap();
    assert_eq!((h.confirmation, c.title.as_str()), (Some((1, 2)), "changed"));
    assert_eq!(s.home_in(20).await.unwrap().map(|h| h.incident), Some(arn(1)));
    assert_eq!(s.home_in(21).await.unwrap(), None);
    let other = Home { incident: arn(2), guild: 10, channel: 22, thread: true, confirmation: Some((3, 4)) };
    s.put_home(&other, &checkpoint()).await.unwrap();
    let mut homes = s.homes().await.unwrap();
    homes.sort_by(|a, b| a.0.incident.as_str().cmp(b.0.incident.as_str()));
    assert_eq!(homes, vec![(again, later), (other, checkpoint())]);

    assert!(s.mark(&arn(1), "k", Mark::Own).await.unwrap());
    assert!(!s.mark(&arn(1), "k", Mark::Shown).await.unwrap(), "marked once, whichever way");
    assert!(s.marked(&arn(1), "k").await.unwrap());
    assert!(!s.marked(&arn(2), "k").await.unwrap(), "marks are per incident");
    s.finish(&arn(1)).await.unwrap();
    assert_eq!(s.homes().await.unwrap().len(), 1, "no longer followed");
    assert!(s.marked(&arn(1), "k").await.unwrap(), "kept: a reopened incident shows nothing twice");
    assert!(s.home_of(&arn(1)).await.unwrap().is_some(), "still known");
    s.follow_again(&arn(1), &checkpoint()).await.unwrap();
    assert_eq!(s.homes().await.unwrap().len(), 2, "followed again");
    assert_eq!(s.home_of(&arn(1)).await.unwrap().unwrap().1, checkpoint());
    // Unknown incidents change nothing.
    s.save_checkpoint(&arn(9), &checkpoint()).await.unwrap();
    s.finish(&arn(9)).await.unwrap();
    assert!(s.home_of(&arn(9)).await.unwrap().is_none());

    assert_eq!(s.claim_message(99, &arn(1)).await.unwrap(), None);
    assert_eq!(s.claim_message(99, &arn(2)).await.unwrap(), Some(arn(1)), "already on a timeline");
    s.release_message(99).await.unwrap();
    assert_eq!(s.claim_message(99, &arn(2)).await.unwrap(), None, "released");
}

/// Interaction claims, sliding windows and leases (on an empty coordinator).
pub async fn coordinator(c: &dyn Coordinator) {
    assert!(c.claim_interaction(7).await.unwrap());
    assert!(!c.claim_interaction(7).await.unwrap(), "a repeated delivery");
    assert!(c.claim_interaction(8).await.unwrap());

    let minute = Duration::from_secs(60);
    let (user, guild) = (Window { max: 2, window: minute }, Window { max: 3, window: minute });
    let keys = |u: &str, g: &str| vec![(format!("decl:user:{u}"), user), (format!("decl:guild:{g}"), guild)];
    // At the start of a window for fixed windows too (DynamoDB's): the
    // figures are then the same as sliding windows'.
    let t0 = 960_000_000;
    assert_eq!(c.acquire(&keys("1", "9"), t0).await.unwrap(), None);
    assert_eq!(c.acquire(&keys("1", "9"), t0 + 10_000).await.unwrap(), None);
    assert_eq!(c.acquire(&keys("1", "9"), t0 + 20_000).await.unwrap(), Some((0, Duration::from_secs(40))));
    assert_eq!(c.acquire(&keys("2", "9"), t0 + 20_000).await.unwrap(), None);
    assert_eq!(c.acquire(&keys("3", "9"), t0 + 30_000).await.unwrap(), Some((1, Duration::from_secs(30))));
    // A refused use counts nowhere: user 3 still has room.
    assert_eq!(c.acquire(&keys("3", "8"), t0 + 30_000).await.unwrap(), None);
    // The window slides.
    assert_eq!(c.acquire(&keys("1", "7"), t0 + 60_000).await.unwrap(), None);

    let ttl = Duration::from_secs(60);
    assert!(c.lease("mirror", "a", ttl).await.unwrap());
    assert!(!c.lease("mirror", "b", ttl).await.unwrap());
    assert!(c.lease("mirror", "a", ttl).await.unwrap(), "renewed");
    c.release("mirror", "b").await.unwrap();
    assert!(!c.lease("mirror", "b", ttl).await.unwrap(), "only the holder releases");
    c.release("mirror", "a").await.unwrap();
    assert!(c.lease("mirror", "b", Duration::ZERO).await.unwrap());
    // A lease of no time is up at once (DynamoDB compares in milliseconds).
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(c.lease("mirror", "a", ttl).await.unwrap(), "expired");
}
