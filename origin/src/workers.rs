//! Background jobs (sweepers, the admission loop, relays) with one shutdown switch.
//!
//! Jobs must be safe to run on every origin replica at once: each one coordinates
//! through Postgres row locks or atomic Redis scripts, never through "only one replica
//! runs this".

use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Default for Workers {
    fn default() -> Self {
        Self::new()
    }
}

impl Workers {
    pub fn new() -> Self {
        Workers {
            stop: watch::channel(false).0,
            tasks: JoinSet::new(),
        }
    }

    /// Runs `job` every `period` until shutdown. A failing run is logged and counted; the
    /// next tick tries again.
    pub fn every<F, Fut>(&mut self, name: &'static str, period: Duration, mut job: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send,
    {
        let mut stop = self.stop.subscribe();
        self.tasks.spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        let result = job().await;
                        let outcome = if result.is_ok() { "ok" } else { "error" };
                        metrics::counter!("worker_runs_total", "worker" => name, "outcome" => outcome)
                            .increment(1);
                        if let Err(e) = result {
                            tracing::warn!(worker = name, error = ?e, "background job failed");
                        }
                    }
                    _ = stop.changed() => break,
                }
            }
        });
    }

    /// Signals every job to stop and waits for the running ones to finish their tick.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}
