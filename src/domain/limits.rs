//! Per-user cooldown and per-guild rate limit: sliding windows, counted by
//! the coordinator (in memory for one process, in the shared store across
//! replicas: see [`crate::store::Coordinator::acquire`]).
//!
//! The defaults never get in the way of a real incident (3 declarations per
//! user and 20 per guild per minute; 10 changes to incidents per user per
//! minute) but stop a stuck key or a script from paging everyone a hundred
//! times.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tracing::warn;

use crate::store::Coordinator;

/// At most `max` events per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub max: u32,
    pub window: Duration,
}

impl Window {
    fn window_ms(self) -> i64 {
        i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX)
    }
}

/// Which limit was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    User,
    Guild,
}

/// A refusal with the time until a declaration would be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub scope: Scope,
    pub max: u32,
    pub window: Duration,
    pub retry_after: Duration,
}

/// The limits of one kind of use (declarations, or changes to incidents),
/// per user and optionally per guild.
#[derive(Debug)]
pub struct RateLimiter {
    /// Names the counters (`decl`, `change`): one kind of use never counts
    /// against another.
    name: &'static str,
    per_user: Window,
    /// `None`: no limit per guild.
    per_guild: Option<Window>,
}

impl RateLimiter {
    pub fn new(name: &'static str, per_user: Window, per_guild: Option<Window>) -> Self {
        Self { name, per_user, per_guild }
    }

    /// Records a use at `now_ms` if both windows have room; otherwise records
    /// nothing and says which limit applies and for how long. A coordinator
    /// that cannot count (the shared store unreachable) lets the use through:
    /// a limit protects the team, it must never stop a real declaration.
    pub async fn try_acquire(
        &self,
        coordinator: &dyn Coordinator,
        user: u64,
        guild: Option<u64>,
        now_ms: i64,
    ) -> Result<(), Limited> {
        let mut keys = vec![(format!("{}:user:{user}", self.name), self.per_user, Scope::User)];
        if let (Some(g), Some(w)) = (guild, self.per_guild) {
            keys.push((format!("{}:guild:{g}", self.name), w, Scope::Guild));
        }
        let asked: Vec<(String, Window)> = keys.iter().map(|(k, w, _)| (k.clone(), *w)).collect();
        match coordinator.acquire(&asked, now_ms).await {
            Ok(None) => Ok(()),
            Ok(Some((i, retry_after))) => {
                // `keys` is never empty; an index out of range names the user's.
                let (_, w, scope) = &keys[i.min(keys.len() - 1)];
                Err(Limited { scope: *scope, max: w.max, window: w.window, retry_after })
            }
            Err(e) => {
                warn!(error = %e, "could not count a use against the rate limits; let through");
                Ok(())
            }
        }
    }
}

/// Whether one more use fits in `window`, given the uses `times` (Unix ms,
/// oldest first; those out of the window are dropped): `Err` with the time
/// until it would.
fn check(times: &mut VecDeque<i64>, window: Window, now_ms: i64) -> Result<(), Duration> {
    let w = window.window_ms();
    while times.front().is_some_and(|t| now_ms.saturating_sub(*t) >= w) {
        times.pop_front();
    }
    if times.len() < window.max as usize {
        return Ok(());
    }
    let oldest = times.front().copied().unwrap_or(now_ms);
    let left = w.saturating_sub(now_ms.saturating_sub(oldest)).max(0);
    Err(Duration::from_millis(u64::try_from(left).unwrap_or(0)))
}

/// Sliding windows in memory, by key: the one-process coordinator's.
#[derive(Debug)]
pub struct Windows {
    state: Mutex<WindowsState>,
}

#[derive(Debug)]
struct WindowsState {
    /// Per key: its window and its uses (Unix ms, oldest first).
    keys: HashMap<String, (Window, VecDeque<i64>)>,
    /// The size past which the next call sweeps.
    sweep_at: usize,
}

/// Keys before emptied windows are swept out.
const SWEEP_AT: usize = 10_000;
/// Most keys tracked at once. Beyond it, a newcomer is let through
/// untracked: memory stays bounded whatever a flood of new users brings,
/// and nobody is refused for the bot's bookkeeping.
pub const MAX_TRACKED: usize = 100_000;

impl Default for Windows {
    fn default() -> Self {
        Self { state: Mutex::new(WindowsState { keys: HashMap::new(), sweep_at: SWEEP_AT }) }
    }
}

impl Windows {
    /// Records a use at `now_ms` under every key if each has room; else
    /// records nothing and gives the first full key's index and wait.
    pub fn try_acquire(&self, asked: &[(String, Window)], now_ms: i64) -> Option<(usize, Duration)> {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.sweep(now_ms);
        for (i, (key, window)) in asked.iter().enumerate() {
            if let Some((_, times)) = s.keys.get_mut(key)
                && let Err(wait) = check(times, *window, now_ms)
            {
                return Some((i, wait));
            }
        }
        for (key, window) in asked {
            if !s.keys.contains_key(key) && s.keys.len() >= MAX_TRACKED {
                continue;
            }
            let (w, times) = s.keys.entry(key.clone()).or_insert_with(|| (*window, VecDeque::new()));
            *w = *window;
            times.push_back(now_ms);
        }
        None
    }

    /// How many keys are tracked now.
    pub fn tracked(&self) -> usize {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).keys.len()
    }
}

impl WindowsState {
    /// Drops the keys with nothing left in their window, when the map has
    /// grown past its mark since the last sweep (so a sweep costs amortised
    /// O(1) per call).
    fn sweep(&mut self, now_ms: i64) {
        if self.keys.len() <= self.sweep_at {
            return;
        }
        self.keys.retain(|_, (w, q)| q.back().is_some_and(|t| now_ms.saturating_sub(*t) < w.window_ms()));
        self.sweep_at = (2 * self.keys.len()).max(SWEEP_AT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::local::Local;

    const MIN: Duration = Duration::from_secs(60);
    const S: i64 = 1000;

    #[tokio::test]
    async fn per_user_then_per_guild() {
        let c = Local::default();
        let l = RateLimiter::new("decl", Window { max: 2, window: MIN }, Some(Window { max: 3, window: MIN }));
        let t0 = 1_000_000;
        assert!(l.try_acquire(&c, 1, Some(9), t0).await.is_ok());
        assert!(l.try_acquire(&c, 1, Some(9), t0 + 10 * S).await.is_ok());
        let e = l.try_acquire(&c, 1, Some(9), t0 + 20 * S).await.unwrap_err();
        assert_eq!((e.scope, e.retry_after), (Scope::User, Duration::from_secs(40)));
        assert!(l.try_acquire(&c, 2, Some(9), t0 + 20 * S).await.is_ok());
        let e = l.try_acquire(&c, 3, Some(9), t0 + 30 * S).await.unwrap_err();
        assert_eq!((e.scope, e.retry_after), (Scope::Guild, Duration::from_secs(30)));
        // A refused attempt does not use up the user's window.
        assert!(l.try_acquire(&c, 3, Some(8), t0 + 30 * S).await.is_ok());
        // The window slides.
        assert!(l.try_acquire(&c, 1, Some(7), t0 + 60 * S).await.is_ok());
        // Another kind of use counts apart.
        let changes = RateLimiter::new("change", Window { max: 1, window: MIN }, None);
        assert!(changes.try_acquire(&c, 1, None, t0 + 60 * S).await.is_ok());
        assert!(changes.try_acquire(&c, 1, None, t0 + 61 * S).await.is_err());
    }

    #[test]
    fn memory_is_bounded_by_age_and_count() {
        let w = Window { max: 1, window: MIN };
        let l = Windows::default();
        let t0 = 1_000_000;
        for user in 0..=SWEEP_AT {
            assert!(l.try_acquire(&[(format!("u{user}"), w)], t0).is_none());
        }
        // A minute later, the next call sweeps the emptied windows.
        assert!(l.try_acquire(&[("last".to_owned(), w)], t0 + 60 * S).is_none());
        assert_eq!(l.tracked(), 1);
        // Past the cap, newcomers pass untracked; those tracked stay limited.
        let l = Windows::default();
        for user in 0..MAX_TRACKED {
            assert!(l.try_acquire(&[(format!("u{user}"), w)], t0).is_none());
        }
        let new = [("new".to_owned(), w)];
        assert!(l.try_acquire(&new, t0).is_none());
        assert!(l.try_acquire(&new, t0).is_none(), "untracked");
        assert_eq!(l.tracked(), MAX_TRACKED);
        assert!(l.try_acquire(&[("u0".to_owned(), w)], t0).is_some(), "still limited");
    }
}
