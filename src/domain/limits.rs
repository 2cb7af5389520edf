//! Per-user cooldown and per-guild rate limit: sliding windows in memory.
//!
//! The defaults never get in the way of a real incident (3 declarations per
//! user and 20 per guild per minute; 10 changes to incidents per user per
//! minute) but stop a stuck key or a script from paging everyone a hundred
//! times.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;

/// At most `max` events per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub max: u32,
    pub window: Duration,
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

/// Both windows, keyed by user id and guild id.
#[derive(Debug)]
pub struct RateLimiter {
    per_user: Window,
    /// `None`: no limit per guild.
    per_guild: Option<Window>,
    users: DashMap<u64, VecDeque<Instant>>,
    guilds: DashMap<u64, VecDeque<Instant>>,
    /// The size past which the next call sweeps.
    sweep_at: AtomicUsize,
}

/// Entries in one map before emptied windows are swept out.
const SWEEP_AT: usize = 10_000;
/// Most users (or guilds) tracked at once. Beyond it, a newcomer is let
/// through untracked: memory stays bounded whatever a flood of new users
/// brings, and nobody is refused for the bot's bookkeeping.
pub const MAX_TRACKED: usize = 100_000;

impl RateLimiter {
    pub fn new(per_user: Window, per_guild: Option<Window>) -> Self {
        Self {
            per_user,
            per_guild,
            users: DashMap::new(),
            guilds: DashMap::new(),
            sweep_at: AtomicUsize::new(SWEEP_AT),
        }
    }

    /// Records a declaration at `now` if both windows have room; otherwise
    /// records nothing and says which limit applies and for how long.
    pub fn try_acquire(&self, user: u64, guild: Option<u64>, now: Instant) -> Result<(), Limited> {
        self.sweep(now);
        // Lock order is always user, then guild: no deadlock between callers.
        let tracked = |map: &DashMap<u64, VecDeque<Instant>>, key| map.contains_key(&key) || map.len() < MAX_TRACKED;
        let mut u = tracked(&self.users, user).then(|| self.users.entry(user).or_default());
        if let Some(u) = &mut u {
            check(u, self.per_user, now, Scope::User)?;
        }
        if let (Some(g), Some(per_guild)) = (guild, self.per_guild)
            && tracked(&self.guilds, g)
        {
            let mut gq = self.guilds.entry(g).or_default();
            check(&mut gq, per_guild, now, Scope::Guild)?;
            gq.push_back(now);
        }
        if let Some(mut u) = u {
            u.push_back(now);
        }
        Ok(())
    }

    /// Drops the users and guilds with nothing left in their window, when a
    /// map has grown past its mark since the last sweep (so a sweep costs
    /// amortised O(1) per call).
    fn sweep(&self, now: Instant) {
        let longest = self.per_guild.map_or(self.per_user.window, |g| g.window.max(self.per_user.window));
        let mark = self.sweep_at.load(Ordering::Relaxed);
        if self.users.len().max(self.guilds.len()) <= mark {
            return;
        }
        for map in [&self.users, &self.guilds] {
            map.retain(|_, q| q.back().is_some_and(|t| now.saturating_duration_since(*t) < longest));
        }
        let left = self.users.len().max(self.guilds.len());
        self.sweep_at.store((2 * left).max(SWEEP_AT), Ordering::Relaxed);
    }

    /// How many users are tracked now.
    pub fn tracked_users(&self) -> usize {
        self.users.len()
    }
}

fn check(q: &mut VecDeque<Instant>, w: Window, now: Instant, scope: Scope) -> Result<(), Limited> {
    while q.front().is_some_and(|t| now.saturating_duration_since(*t) >= w.window) {
        q.pop_front();
    }
    if q.len() < w.max as usize {
        return Ok(());
    }
    let oldest = q.front().copied().unwrap_or(now);
    let retry_after = w.window.saturating_sub(now.saturating_duration_since(oldest));
    Err(Limited { scope, max: w.max, window: w.window, retry_after })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn per_user_then_per_guild() {
        let l = RateLimiter::new(Window { max: 2, window: MIN }, Some(Window { max: 3, window: MIN }));
        let t0 = Instant::now();
        assert!(l.try_acquire(1, Some(9), t0).is_ok());
        assert!(l.try_acquire(1, Some(9), t0 + Duration::from_secs(10)).is_ok());
        let e = l.try_acquire(1, Some(9), t0 + Duration::from_secs(20)).unwrap_err();
        assert_eq!((e.scope, e.retry_after), (Scope::User, Duration::from_secs(40)));
        assert!(l.try_acquire(2, Some(9), t0 + Duration::from_secs(20)).is_ok());
        let e = l.try_acquire(3, Some(9), t0 + Duration::from_secs(30)).unwrap_err();
        assert_eq!((e.scope, e.retry_after), (Scope::Guild, Duration::from_secs(30)));
        // A refused attempt does not use up the user's window.
        assert!(l.try_acquire(3, Some(8), t0 + Duration::from_secs(30)).is_ok());
        // The window slides.
        assert!(l.try_acquire(1, Some(7), t0 + MIN).is_ok());
    }

    #[test]
    fn memory_is_bounded_by_age_and_count() {
        let l = RateLimiter::new(Window { max: 1, window: MIN }, None);
        let t0 = Instant::now();
        for user in 0..(SWEEP_AT as u64 + 1) {
            assert!(l.try_acquire(user, None, t0).is_ok());
        }
        // A minute later, the next call sweeps the emptied windows.
        assert!(l.try_acquire(u64::MAX, None, t0 + MIN).is_ok());
        assert_eq!(l.tracked_users(), 1);
        // Past the cap, newcomers pass untracked; those tracked stay limited.
        let l = RateLimiter::new(Window { max: 1, window: MIN }, None);
        for user in 0..MAX_TRACKED as u64 {
            assert!(l.try_acquire(user, None, t0).is_ok());
        }
        assert!(l.try_acquire(u64::MAX, None, t0).is_ok());
        assert!(l.try_acquire(u64::MAX, None, t0).is_ok(), "untracked");
        assert_eq!(l.tracked_users(), MAX_TRACKED);
        assert!(l.try_acquire(0, None, t0).is_err(), "still limited");
    }
}
