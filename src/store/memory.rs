//! [`Store`] in memory, for unit tests: the same behaviour as the SQLite
//! store, lost with the process.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use super::{Checkpoint, Home, Mark, Store, StoreError};
use crate::domain::IncidentArn;

#[derive(Default)]
struct State {
    /// By incident, in insertion order: (home, checkpoint, finished).
    homes: BTreeMap<usize, (Home, Checkpoint, bool)>,
    marks: HashSet<(String, String)>,
    messages: HashMap<u64, IncidentArn>,
}

/// See the module documentation.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn find<'a>(s: &'a mut State, incident: &IncidentArn) -> Option<&'a mut (Home, Checkpoint, bool)> {
    s.homes.values_mut().find(|(h, ..)| &h.incident == incident)
}

#[async_trait]
impl Store for MemoryStore {
    async fn put_home(&self, home: &Home, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        let mut s = self.state();
        if let Some((h, ..)) = find(&mut s, &home.incident) {
            h.confirmation = h.confirmation.or(home.confirmation);
            return Ok(());
        }
        let n = s.homes.len();
        s.homes.insert(n, (home.clone(), checkpoint.clone(), false));
        Ok(())
    }

    async fn homes(&self) -> Result<Vec<(Home, Checkpoint)>, StoreError> {
        Ok(self.state().homes.values().filter(|(.., done)| !done).map(|(h, c, _)| (h.clone(), c.clone())).collect())
    }

    async fn home_in(&self, channel: u64) -> Result<Option<Home>, StoreError> {
        Ok(self.state().homes.values().rev().find(|(h, ..)| h.channel == channel).map(|(h, ..)| h.clone()))
    }

    async fn home_of(&self, incident: &IncidentArn) -> Result<Option<(Home, Checkpoint)>, StoreError> {
        Ok(find(&mut self.state(), incident).map(|(h, c, _)| (h.clone(), c.clone())))
    }

    async fn save_checkpoint(&self, incident: &IncidentArn, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        if let Some((_, c, _)) = find(&mut self.state(), incident) {
            c.clone_from(checkpoint);
        }
        Ok(())
    }

    async fn finish(&self, incident: &IncidentArn) -> Result<(), StoreError> {
        let mut s = self.state();
        if let Some((.., done)) = find(&mut s, incident) {
            *done = true;
        }
        Ok(())
    }

    async fn follow_again(&self, incident: &IncidentArn, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        if let Some((_, c, done)) = find(&mut self.state(), incident) {
            c.clone_from(checkpoint);
            *done = false;
        }
        Ok(())
    }

    async fn mark(&self, incident: &IncidentArn, key: &str, _: Mark) -> Result<bool, StoreError> {
        Ok(self.state().marks.insert((incident.as_str().to_owned(), key.to_owned())))
    }

    async fn marked(&self, incident: &IncidentArn, key: &str) -> Result<bool, StoreError> {
        Ok(self.state().marks.contains(&(incident.as_str().to_owned(), key.to_owned())))
    }

    async fn claim_message(&self, message: u64, incident: &IncidentArn) -> Result<Option<IncidentArn>, StoreError> {
        let mut s = self.state();
        if let Some(existing) = s.messages.get(&message) {
            return Ok(Some(existing.clone()));
        }
        s.messages.insert(message, incident.clone());
        Ok(None)
    }

    async fn release_message(&self, message: u64) -> Result<(), StoreError> {
        self.state().messages.remove(&message);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn keeps_the_store_contract() {
        super::super::contract::store(&super::MemoryStore::default()).await;
    }
}
