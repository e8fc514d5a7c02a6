//! DOM registrations that undo themselves when dropped: event listeners,
//! timers and the count of pictures presented. Everything the player registers is one of these, held by the player,
//! so `destroy()` (dropping them) leaves nothing behind.

use alloc::rc::Rc;
use core::cell::Cell;

use js_sys::Function;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{Event, EventTarget, HtmlVideoElement};

use crate::js;

pub struct Listener {
    target: EventTarget,
    kind: &'static str,
    closure: Closure<dyn FnMut(Event)>,
}

impl Listener {
    pub fn new(target: &EventTarget, kind: &'static str, f: impl FnMut(Event) + 'static) -> Self {
        let closure = Closure::<dyn FnMut(Event)>::new(f);
        let _ = target.add_event_listener_with_callback(kind, closure.as_ref().unchecked_ref());
        Listener {
            target: target.clone(),
            kind,
            closure,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self
            .target
            .remove_event_listener_with_callback(self.kind, self.closure.as_ref().unchecked_ref());
    }
}

/// A `setInterval` or `setTimeout`, cleared on drop.
pub struct Timer {
    handle: i32,
    repeat: bool,
    _closure: Closure<dyn FnMut()>,
}

impl Timer {
    pub fn interval(ms: i32, f: impl FnMut() + 'static) -> Option<Timer> {
        Self::start(ms, true, f)
    }

    pub fn timeout(ms: i32, f: impl FnMut() + 'static) -> Option<Timer> {
        Self::start(ms, false, f)
    }

    fn start(ms: i32, repeat: bool, f: impl FnMut() + 'static) -> Option<Timer> {
        let window = web_sys::window()?;
        let closure = Closure::<dyn FnMut()>::new(f);
        let callback = closure.as_ref().unchecked_ref();
        let handle = if repeat {
            window.set_interval_with_callback_and_timeout_and_arguments_0(callback, ms)
        } else {
            window.set_timeout_with_callback_and_timeout_and_arguments_0(callback, ms)
        }
        .ok()?;
        Some(Timer {
            handle,
            repeat,
            _closure: closure,
        })
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let Some(window) = web_sys::window() {
            if self.repeat {
                window.clear_interval_with_handle(self.handle);
            } else {
                window.clear_timeout_with_handle(self.handle);
            }
        }
    }
}

/// The pictures a `<video>` presented, as its `requestVideoFrameCallback` metadata counts
/// them (`presentedFrames`), where the browser has it: the frame rate the viewer sees.
/// (WebKitGTK's `totalVideoFrames` starts again at each `playbackRate` change, and may stay
/// near 0 for seconds after one.) The count is sampled, one callback per `count()`, not
/// one per picture: a callback pending makes the browser run its rendering steps on the
/// page's main thread for every picture, which took more of the page's script time than
/// the whole remuxer (`docs/benchmarks.md`, "Page CPU").
pub struct Presented {
    video: HtmlVideoElement,
    request: Function,
    /// `presentedFrames` as of the last callback (0 before the first).
    count: Rc<Cell<u32>>,
    /// The pending request's handle, for `cancelVideoFrameCallback`; `None` once answered.
    pending: Rc<Cell<Option<f64>>>,
    callback: Closure<dyn FnMut(JsValue, JsValue)>,
}

impl Presented {
    /// `None` where the browser has no `requestVideoFrameCallback`.
    pub fn new(video: &HtmlVideoElement) -> Option<Presented> {
        let request = js::get(video, "requestVideoFrameCallback")
            .dyn_into::<Function>()
            .ok()?;
        let count = Rc::new(Cell::new(0u32));
        let pending = Rc::new(Cell::new(None));
        let callback = {
            let (count, pending) = (count.clone(), pending.clone());
            Closure::new(move |_now: JsValue, metadata: JsValue| {
                pending.set(None);
                if let Some(n) = js::get(&metadata, "presentedFrames").as_f64() {
                    count.set(n as u32);
                }
            })
        };
        let presented = Presented {
            video: video.clone(),
            request,
            count,
            pending,
            callback,
        };
        presented.ask();
        Some(presented)
    }

    /// The count as of the last picture sampled, asking for the next sample.
    pub fn count(&self) -> u32 {
        if self.pending.get().is_none() {
            self.ask();
        }
        self.count.get()
    }

    fn ask(&self) {
        let handle = self
            .request
            .call1(&self.video, self.callback.as_ref())
            .ok()
            .and_then(|h| h.as_f64());
        self.pending.set(handle);
    }
}

impl Drop for Presented {
    fn drop(&mut self) {
        if let (Some(handle), Ok(cancel)) = (
            self.pending.get(),
            js::get(&self.video, "cancelVideoFrameCallback").dyn_into::<Function>(),
        ) {
            let _ = cancel.call1(&self.video, &JsValue::from_f64(handle));
        }
    }
}
