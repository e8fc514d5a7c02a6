//! When to try a lost connection again: the `retry` option, a policy function or
//! bounds. By default every failure is retried with exponential backoff, except
//! those the server meant ([`Failure::fatal_by_default`]).

use js_sys::{Function, Object};
use wasm_bindgen::{JsCast, JsValue};

use super::failure::Failure;
use crate::js::{self, set};

const MIN_DELAY_MS: f64 = 500.0;
const MAX_DELAY_MS: f64 = 8_000.0;

/// Attempts after a move (a draining gateway's 1001) in which "no such stream" is
/// retried rather than fatal: a gateway restarted in place (no balancer) answers 404
/// until its publisher is back. With the default backoff, about 15 s.
const AFTER_MOVE_ATTEMPTS: u32 = 5;

/// Whether `failure` ends the stream unless a policy says otherwise: the server's
/// refusals, except a 404 in the first attempts after a move.
pub fn fatal(failure: &Failure, attempt: u32, moved: bool) -> bool {
    let transient_404 = moved && failure.details == "not-found" && attempt <= AFTER_MOVE_ATTEMPTS;
    failure.fatal_by_default() && !transient_404
}

/// A lost connection to retry at once, bypassing the policy: the gateway drains
/// ([`Failure::is_move`]), unless the previous move has delivered no data since
/// (`moved`), which would loop with no backoff.
pub fn at_once(failure: &Failure, moved: bool) -> bool {
    failure.is_move() && !moved
}

pub enum Retry {
    /// `retry(context)` returns the delay in ms, or anything else to give up.
    Policy(Function),
    Bounds {
        max_attempts: f64,
        min_ms: f64,
        max_ms: f64,
    },
}

impl Retry {
    pub fn from_option(value: &JsValue) -> Retry {
        if let Some(f) = value.dyn_ref::<Function>() {
            return Retry::Policy(f.clone());
        }
        let number = |key: &str| js::get(value, key).as_f64().filter(|v| *v >= 0.0);
        let min_ms = number("minDelayMs").unwrap_or(MIN_DELAY_MS);
        Retry::Bounds {
            max_attempts: number("maxAttempts").unwrap_or(f64::INFINITY),
            min_ms,
            max_ms: number("maxDelayMs").unwrap_or(MAX_DELAY_MS).max(min_ms),
        }
    }

    /// The delay before attempt `attempt` (1 for the first retry), or `None` to give up;
    /// `moved`: since a move ([`at_once`]) and no data yet.
    pub fn delay_ms(
        &self,
        attempt: u32,
        failure: &Failure,
        random: f64,
        moved: bool,
    ) -> Option<f64> {
        let (min_ms, max_ms) = match self {
            Retry::Bounds { min_ms, max_ms, .. } => (*min_ms, *max_ms),
            Retry::Policy(_) => (MIN_DELAY_MS, MAX_DELAY_MS),
        };
        let exp = (attempt.max(1) - 1).min(16);
        // Jitter, so that viewers of a restarted gateway do not all return at once.
        let backoff = (min_ms * f64::from(1u32 << exp)).min(max_ms) * (0.8 + 0.4 * random);
        let default = (!fatal(failure, attempt, moved)).then_some(backoff);
        match self {
            Retry::Bounds { max_attempts, .. } => {
                default.filter(|_| f64::from(attempt) <= *max_attempts)
            }
            Retry::Policy(f) => {
                let context: Object = failure.to_js(false);
                set(&context, "attempt", attempt);
                set(
                    &context,
                    "defaultDelayMs",
                    default.map_or(JsValue::NULL, JsValue::from_f64),
                );
                let answer = f.call1(&JsValue::NULL, &context).ok()?;
                answer.as_f64().filter(|d| d.is_finite() && *d >= 0.0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{at_once, fatal};
    use crate::player::failure::Failure;

    #[test]
    fn a_404_soon_after_a_move_is_retried() {
        let missing = Failure::http(404);
        assert!(fatal(&missing, 1, false));
        assert!(!fatal(&missing, 1, true));
        assert!(!fatal(&missing, 5, true));
        assert!(fatal(&missing, 6, true));
        assert!(fatal(&Failure::http(403), 1, true));
        assert!(!fatal(&Failure::network("connection"), 9, false));
    }

    #[test]
    fn a_drain_reconnects_at_once_but_only_once_before_data() {
        assert!(at_once(&Failure::close(1001), false));
        assert!(!at_once(&Failure::close(1001), true));
        assert!(!at_once(&Failure::close(1006), false));
        assert!(!at_once(&Failure::close(1000), false));
        assert!(!at_once(&Failure::network("idle"), false));
    }
}
