//! [`Coordinator`] for one process: everything in memory, bounded.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Coordinator, StoreError};
use crate::bot::{DEDUPE_MAX, DEDUPE_WINDOW};
use crate::bounded::RecentSet;
use crate::domain::limits::{Window, Windows};

/// See the module documentation.
pub struct Local {
    seen: RecentSet<u64>,
    windows: Windows,
    /// Lease name → (holder, until).
    leases: Mutex<HashMap<String, (String, Instant)>>,
}

impl Default for Local {
    fn default() -> Self {
        Self { seen: RecentSet::new(DEDUPE_MAX, DEDUPE_WINDOW), windows: Windows::default(), leases: Mutex::default() }
    }
}

#[async_trait]
impl Coordinator for Local {
    async fn claim_interaction(&self, id: u64) -> Result<bool, StoreError> {
        Ok(self.seen.first_time(id))
    }

    async fn acquire(&self, keys: &[(String, Window)], now_ms: i64) -> Result<Option<(usize, Duration)>, StoreError> {
        Ok(self.windows.try_acquire(keys, now_ms))
    }

    async fn lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut leases = self.leases.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((h, until)) = leases.get(name)
            && h != holder
            && *until > now
        {
            return Ok(false);
        }
        leases.insert(name.to_owned(), (holder.to_owned(), now + ttl));
        Ok(true)
    }

    async fn release(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let mut leases = self.leases.lock().unwrap_or_else(PoisonError::into_inner);
        if leases.get(name).is_some_and(|(h, _)| h == holder) {
            leases.remove(name);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn keeps_the_coordinator_contract() {
        super::super::contract::coordinator(&super::Local::default()).await;
    }
}
