//! The shutdown signal every task listens for (the mini-redis pattern).

use tokio::sync::watch;

/// Held by `serve`; firing it tells every task to finish.
pub struct Trigger(watch::Sender<bool>);

/// Cloned into every task.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Shutdown(rx))
}

impl Trigger {
    pub fn fire(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    /// Completes once shutdown has begun (at once if it already has).
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|&stop| stop).await;
    }

    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }
}
