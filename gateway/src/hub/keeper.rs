//! Tasks kept running one per key while they are wanted, each over a channel of the
//! hub: the recorders (a key per recorded channel) and the forwards (a key per channel
//! and target). Their manager looks at the hub now and then: it stops the tasks no
//! longer wanted (a reload, a channel gone or made anew) and starts the missing ones.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::{Id, JoinSet};

use super::Channel;

pub struct Keeper<K> {
    running: HashMap<K, Kept>,
    tasks: JoinSet<()>,
}

struct Kept {
    id: Id,
    channel: Arc<Channel>,
    /// Turned true to stop the task.
    stop: watch::Sender<bool>,
}

impl<K: Eq + Hash> Default for Keeper<K> {
    fn default() -> Self {
        Keeper {
            running: HashMap::new(),
            tasks: JoinSet::new(),
        }
    }
}

impl<K: Eq + Hash> Keeper<K> {
    pub fn contains(&self, key: &K) -> bool {
        self.running.contains_key(key)
    }

    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// Starts the task `make` returns for `key` over `channel`, handing it its stop
    /// signal (see [`crate::shutdown::stopped`]).
    pub fn start<F>(
        &mut self,
        key: K,
        channel: Arc<Channel>,
        make: impl FnOnce(watch::Receiver<bool>) -> F,
    ) where
        F: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = watch::channel(false);
        let id = self.tasks.spawn(make(stopped)).id();
        self.running.insert(key, Kept { id, channel, stop });
    }

    /// Stops the tasks for which `wanted(key, channel)` is false.
    pub fn retain(&mut self, wanted: impl Fn(&K, &Arc<Channel>) -> bool) {
        self.running.retain(|key, kept| {
            let keep = wanted(key, &kept.channel);
            if !keep {
                kept.stop.send_replace(true);
            }
            keep
        });
    }

    /// Waits for a task to end, and forgets it so that it can be started again (one
    /// that panicked too); pending while none runs. Cancel-safe.
    pub async fn reap(&mut self) {
        let id = match self.tasks.join_next_with_id().await {
            Some(Ok((id, ()))) => id,
            Some(Err(e)) => e.id(),
            None => return std::future::pending().await,
        };
        self.running.retain(|_, kept| kept.id != id);
    }

    /// Waits for every task to end (each watches the gateway's shutdown itself).
    pub async fn finish(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}
