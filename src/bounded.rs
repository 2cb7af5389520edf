//! Memory the bot keeps per interaction or per message, bounded by count and
//! by age: a bot that runs for months keeps at most a fixed amount of it,
//! whatever a busy hour brought.
//!
//! Both structures keep their entries in arrival order, so dropping the
//! oldest (by age or to make room) is cheap.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Keys seen recently: at most `cap`, none older than `max_age`.
#[derive(Debug)]
pub struct RecentSet<K> {
    inner: Mutex<Ordered<K, ()>>,
}

/// Values kept for a while: at most `cap`, none older than `max_age`.
#[derive(Debug)]
pub struct ExpiringMap<K, V> {
    inner: Mutex<Ordered<K, V>>,
}

#[derive(Debug)]
struct Ordered<K, V> {
    cap: usize,
    max_age: Duration,
    /// Keys in the order they were inserted, with when.
    order: VecDeque<(K, Instant)>,
    values: HashMap<K, (V, Instant)>,
}

impl<K: Hash + Eq + Clone, V> Ordered<K, V> {
    fn new(cap: usize, max_age: Duration) -> Self {
        Self { cap: cap.max(1), max_age, order: VecDeque::new(), values: HashMap::new() }
    }

    /// Drops what is too old, then the oldest until there is room for `room` more.
    fn prune(&mut self, now: Instant, room: usize) {
        while let Some((key, at)) = self.order.front() {
            let expired = now.saturating_duration_since(*at) >= self.max_age;
            if !expired && self.values.len() + room <= self.cap {
                break;
            }
            // Only remove the value if it is the one this entry inserted (a
            // key inserted again has a newer entry further back).
            if self.values.get(key).is_some_and(|(_, t)| t == at) {
                self.values.remove(key);
            }
            self.order.pop_front();
        }
    }

    fn insert(&mut self, key: K, value: V, now: Instant) {
        self.prune(now, usize::from(!self.values.contains_key(&key)));
        self.order.push_back((key.clone(), now));
        self.values.insert(key, (value, now));
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<K: Hash + Eq + Clone> RecentSet<K> {
    pub fn new(cap: usize, max_age: Duration) -> Self {
        Self { inner: Mutex::new(Ordered::new(cap, max_age)) }
    }

    /// True the first time `key` is seen (within the age and count bounds).
    pub fn first_time(&self, key: K) -> bool {
        self.first_time_at(key, Instant::now())
    }

    /// [`Self::first_time`] at `now`.
    pub fn first_time_at(&self, key: K, now: Instant) -> bool {
        let mut s = lock(&self.inner);
        s.prune(now, 0);
        if s.values.contains_key(&key) {
            return false;
        }
        s.insert(key, (), now);
        true
    }

    /// How many keys are kept now.
    pub fn len(&self) -> usize {
        lock(&self.inner).values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: Hash + Eq + Clone, V> ExpiringMap<K, V> {
    pub fn new(cap: usize, max_age: Duration) -> Self {
        Self { inner: Mutex::new(Ordered::new(cap, max_age)) }
    }

    /// Keeps `value` under `key`, replacing what was there.
    pub fn insert(&self, key: K, value: V) {
        self.insert_at(key, value, Instant::now());
    }

    /// [`Self::insert`] at `now`.
    pub fn insert_at(&self, key: K, value: V, now: Instant) {
        lock(&self.inner).insert(key, value, now);
    }

    /// Takes the value under `key`, if it is still kept.
    pub fn take(&self, key: &K) -> Option<V> {
        self.take_at(key, Instant::now())
    }

    /// [`Self::take`] at `now`.
    pub fn take_at(&self, key: &K, now: Instant) -> Option<V> {
        let mut s = lock(&self.inner);
        s.prune(now, 0);
        s.values.remove(key).map(|(v, _)| v)
    }

    /// How many values are kept now.
    pub fn len(&self) -> usize {
        lock(&self.inner).values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One async lock per key, made on first use and dropped when nobody holds
/// or waits for it (checked when the map grows): the bot's writes to an
/// incident and the mirror's look at it take turns.
#[derive(Debug)]
pub struct KeyedLocks<K> {
    locks: Mutex<HashMap<K, std::sync::Arc<tokio::sync::Mutex<()>>>>,
}

impl<K> Default for KeyedLocks<K> {
    fn default() -> Self {
        Self { locks: Mutex::new(HashMap::new()) }
    }
}

impl<K: Hash + Eq + Clone> KeyedLocks<K> {
    /// Waits for `key`'s lock; it is released when the guard drops.
    pub async fn lock(&self, key: &K) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = lock(&self.locks);
            if locks.len() >= 64 {
                locks.retain(|_, l| std::sync::Arc::strong_count(l) > 1);
            }
            std::sync::Arc::clone(locks.entry(key.clone()).or_default())
        };
        lock.lock_owned().await
    }

    /// How many locks are kept now.
    pub fn len(&self) -> usize {
        lock(&self.locks).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn keyed_locks_take_turns_and_are_dropped_when_free() {
        let locks = KeyedLocks::default();
        let held = locks.lock(&1).await;
        assert!(tokio::time::timeout(Duration::from_millis(10), locks.lock(&1)).await.is_err(), "taken");
        let _other = locks.lock(&2).await;
        drop(held);
        drop(locks.lock(&1).await);
        for k in 10..200 {
            drop(locks.lock(&k).await);
        }
        assert!(locks.len() <= 65, "free locks are dropped: {}", locks.len());
    }

    #[test]
    fn a_key_is_new_once_within_its_age() {
        let s = RecentSet::new(10, MIN);
        let t0 = Instant::now();
        assert!(s.first_time_at(1, t0));
        assert!(!s.first_time_at(1, t0 + Duration::from_secs(59)));
        assert!(s.first_time_at(1, t0 + MIN), "forgotten after its age");
    }

    #[test]
    fn the_set_never_holds_more_than_its_cap() {
        let s = RecentSet::new(100, MIN);
        let t0 = Instant::now();
        for id in 0..10_000u64 {
            assert!(s.first_time_at(id, t0));
        }
        assert_eq!(s.len(), 100);
        // The newest are the ones kept.
        assert!(!s.first_time_at(9_999, t0));
        assert!(s.first_time_at(0, t0));
    }

    #[test]
    fn values_expire_and_are_capped() {
        let m = ExpiringMap::new(3, MIN);
        let t0 = Instant::now();
        m.insert_at("a", 1, t0);
        assert_eq!(m.take_at(&"a", t0), Some(1));
        assert_eq!(m.take_at(&"a", t0), None, "taken once");
        m.insert_at("b", 2, t0);
        assert_eq!(m.take_at(&"b", t0 + MIN), None, "expired");
        assert!(m.is_empty(), "an expired value is dropped, not only hidden");
        for (i, k) in ["c", "d", "e", "f"].into_iter().enumerate() {
            m.insert_at(k, i, t0);
        }
        assert_eq!(m.len(), 3);
        assert_eq!(m.take_at(&"c", t0), None, "the oldest made room");
        // Inserting a key again keeps one value, the newest, and evicts nothing.
        m.insert_at("f", 9, t0 + Duration::from_secs(1));
        assert_eq!(m.len(), 3);
        assert_eq!(m.take_at(&"f", t0 + Duration::from_secs(2)), Some(9));
        assert_eq!(m.take_at(&"d", t0 + Duration::from_secs(2)), Some(1));
    }
}
