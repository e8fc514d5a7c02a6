//! A viewer's task wakes for each frame, and a `select!` then polls every branch
//! again: the socket's read side (through its wrappers, to tokio's readiness), the
//! shutdown signal, the idle timer. Those rarely have anything, and polling them
//! was about a tenth of the gateway's CPU per viewer. A [`Gate`] polls them only
//! after one of them woke the task (or after one completed, for the next), by
//! handing them a waker of its own that notes the wake-up and passes it on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

pub struct Gate {
    flag: Arc<Flag>,
    waker: Waker,
}

struct Flag {
    /// One of the gated futures woke (or may have something): poll them.
    woken: AtomicBool,
    /// The task to wake.
    task: AtomicWaker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl Default for Gate {
    fn default() -> Self {
        Gate::new()
    }
}

impl Gate {
    /// Open: the first poll goes through, so the futures register their wake-ups.
    pub fn new() -> Gate {
        let flag = Arc::new(Flag {
            woken: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        Gate {
            waker: Waker::from(flag.clone()),
            flag,
        }
    }

    /// Polls the gated futures with `poll` if one of them woke since it last
    /// returned `Pending`; else `Pending` at once. A future made afresh (the next
    /// read, a timer reset to an earlier deadline) must [`open`](Gate::open) it.
    pub fn poll<T>(
        &self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        self.flag.task.register(cx.waker());
        if !self.flag.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let result = poll(&mut Context::from_waker(&self.waker));
        if result.is_ready() {
            // What replaces the future that completed has not registered yet.
            self.open();
        }
        result
    }

    /// The next poll goes through.
    pub fn open(&self) {
        self.flag.woken.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::time::Duration;

    /// Polls `gate` around `f` once with a no-op waker.
    fn poll_once<F: Future + Unpin>(gate: &Gate, f: &mut F) -> Poll<F::Output> {
        let mut cx = Context::from_waker(Waker::noop());
        gate.poll(&mut cx, |cx| std::pin::Pin::new(&mut *f).poll(cx))
    }

    #[tokio::test]
    async fn a_gated_future_is_polled_again_once_it_woke() {
        let gate = Gate::new();
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let mut rx = rx;
        // The first poll goes through and registers the gate's waker, which the
        // send then wakes.
        assert!(poll_once(&gate, &mut rx).is_pending());
        tx.send(7).unwrap();
        assert_eq!(poll_once(&gate, &mut rx), Poll::Ready(Ok(7)));
    }

    #[tokio::test]
    async fn the_task_is_woken_through_the_gate() {
        let gate = Gate::new();
        let mut sleep = pin!(tokio::time::sleep(Duration::from_millis(20)));
        let woke = std::future::poll_fn(|cx| gate.poll(cx, |cx| sleep.as_mut().poll(cx)));
        tokio::time::timeout(Duration::from_secs(5), woke)
            .await
            .expect("the sleep's wake-up reached the task");
    }

    #[test]
    fn a_closed_gate_skips_a_future_that_did_not_wake() {
        let gate = Gate::new();
        let mut pending = std::future::pending::<()>();
        assert!(poll_once(&gate, &mut pending).is_pending());
        let mut polled = false;
        let r: Poll<()> = gate.poll(&mut Context::from_waker(Waker::noop()), |_| {
            polled = true;
            Poll::Ready(())
        });
        assert!(r.is_pending() && !polled);
        gate.open();
        let r: Poll<()> = gate.poll(&mut Context::from_waker(Waker::noop()), |_| {
            polled = true;
            Poll::Ready(())
        });
        assert!(r.is_ready() && polled);
    }
}
