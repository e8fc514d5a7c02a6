//! The shutdown signal every task listens for (the mini-redis pattern), in two
//! stages: draining (viewers are told to go elsewhere and no new ones are taken,
//! while the HTTP listener still answers `/healthz` with 503 for the balancer),
//! then stopping (every task finishes).

use tokio::sync::watch;

/// Where the gateway is in its life; only ever goes forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Running,
    Draining,
    Stopping,
}

/// Held by `serve` (and `POST /api/drain`); firing it tells every task to finish.
pub struct Trigger(watch::Sender<Stage>);

/// Cloned into every task.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<Stage>);

pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(Stage::Running);
    (Trigger(tx), Shutdown(rx))
}

impl Trigger {
    /// Stops everything.
    pub fn fire(&self) {
        self.advance(Stage::Stopping);
    }

    /// Starts draining; `false` when the gateway was draining or stopping already.
    pub fn drain(&self) -> bool {
        self.advance(Stage::Draining)
    }

    fn advance(&self, to: Stage) -> bool {
        self.0.send_if_modified(|stage| {
            let later = to > *stage;
            if later {
                *stage = to;
            }
            later
        })
    }
}

impl Shutdown {
    /// Completes once shutdown has begun (at once if it already has).
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|&stage| stage == Stage::Stopping).await;
    }

    /// Completes once viewers must go: on draining or stopping.
    pub async fn wait_drain(&mut self) {
        let _ = self.0.wait_for(|&stage| stage >= Stage::Draining).await;
    }

    pub fn is_set(&self) -> bool {
        *self.0.borrow() == Stage::Stopping
    }

    /// Draining or stopping: no new viewer is taken.
    pub fn is_draining(&self) -> bool {
        *self.0.borrow() >= Stage::Draining
    }
}

/// Completes once `stop` turns true: a task's own stop, beside the gateway's
/// [`Shutdown`] (a recorder or a forward that a reload ends).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error: the sender went with its manager, which stops its tasks itself.
    let stop = stop.wait_for(|&stop| stop).await.is_ok();
    if !stop {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::channel;

    #[test]
    fn stages_only_go_forward() {
        let (trigger, shutdown) = channel();
        assert!(!shutdown.is_draining());
        assert!(trigger.drain());
        assert!(shutdown.is_draining() && !shutdown.is_set());
        assert!(!trigger.drain());
        trigger.fire();
        assert!(shutdown.is_set());
        assert!(!trigger.drain());
        assert!(shutdown.is_set());
    }
}
