//! Retrying a Discord call that failed for a passing reason (429, 5xx, no
//! answer), with exponential backoff: the one retry loop of the Discord edge.
//!
//! serenity's own rate limiter waits out 429s when it is on; with an
//! `api_url` proxy it is off, and serenity 0.12's error type does not carry
//! `retry_after`, so these retries back off exponentially instead.

use std::future::Future;
use std::time::Duration;

use tracing::warn;

use super::api::ApiError;

/// How many attempts, and the wait after the first failure (doubled after
/// each further one).
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub attempts: u32,
    pub first_delay: Duration,
}

impl Backoff {
    /// Outcomes of declarations and other answers: 1 s, 2 s, 4 s.
    pub const DELIVERY: Self = Self { attempts: 4, first_delay: Duration::from_secs(1) };
    /// Command registration at start-up: 0.5 s, 1 s, 2 s, 4 s.
    pub const REGISTRATION: Self = Self { attempts: 5, first_delay: Duration::from_millis(500) };
}

/// Runs `call` until it succeeds, fails for good, or the attempts are used
/// up; `what` names it in the log (`edit the reply`).
pub async fn retry<T, F, Fut>(policy: Backoff, what: &str, mut call: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let mut delay = policy.first_delay;
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e) if attempt < policy.attempts && e.is_transient() => {
                warn!(error = %e, attempt, "could not {what}; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn limited() -> ApiError {
        ApiError::Refused { status: 429, code: 0, message: "rate limited".into() }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_then_given_up() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = retry(Backoff::DELIVERY, "test", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(limited())
        })
        .await;
        assert_eq!((r, calls.load(Ordering::SeqCst)), (Err(limited()), 4));

        let calls = AtomicU32::new(0);
        let r = retry(Backoff::DELIVERY, "test", || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 { Err(limited()) } else { Ok(7) }
        })
        .await;
        assert_eq!(r, Ok(7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_is_not_retried() {
        let calls = AtomicU32::new(0);
        let refused = ApiError::Refused { status: 400, code: 50035, message: "invalid".into() };
        let r: Result<(), _> = retry(Backoff::DELIVERY, "test", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(refused.clone())
        })
        .await;
        assert_eq!((r, calls.load(Ordering::SeqCst)), (Err(refused), 1));
    }
}
