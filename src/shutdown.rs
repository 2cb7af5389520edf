//! One shutdown signal that every background task obeys, and a tracker so the
//! bot's `run` returns only once they have stopped (the shape of mini-redis's
//! `Shutdown` and its drop-guard channel, on tokio-util's primitives).

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

/// Cloned into everything that runs in the background.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    signal: CancellationToken,
    tasks: TaskTracker,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `task` in the background until it ends or the signal is given,
    /// whichever is first (the task is then dropped at its next await).
    pub fn spawn<F>(&self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let signal = self.signal.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = signal.cancelled() => debug!(task = name, "background task stopped"),
                () = task => {}
            }
        });
    }

    /// Gives the signal.
    pub fn signal(&self) {
        self.signal.cancel();
    }

    /// Whether the signal was given.
    pub fn is_signalled(&self) -> bool {
        self.signal.is_cancelled()
    }

    /// Completes once the signal is given.
    pub async fn signalled(&self) {
        self.signal.cancelled().await;
    }

    /// Gives the signal and waits up to `grace` for every task to stop.
    /// Returns how many were still running.
    pub async fn stop(&self, grace: Duration) -> usize {
        self.signal();
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait()).await.is_err() {
            warn!(left = self.tasks.len(), "background tasks still running at shutdown");
        }
        self.tasks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_task_stops_at_the_signal() {
        let shutdown = Shutdown::new();
        for _ in 0..3 {
            shutdown.spawn("forever", std::future::pending());
        }
        shutdown.spawn("quick", async {});
        assert!(!shutdown.is_signalled());
        assert_eq!(shutdown.stop(Duration::from_secs(5)).await, 0);
        assert!(shutdown.is_signalled());
    }
}
