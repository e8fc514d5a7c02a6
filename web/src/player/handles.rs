//! DOM registrations that undo themselves when dropped: event listeners and
//! timers. Everything the player registers is one of these, held by the player,
//! so `destroy()` (dropping them) leaves nothing behind.

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{Event, EventTarget};

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
