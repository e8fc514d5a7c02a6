//! What went wrong, as a code from a documented union (`ErrorDetails` in
//! `pkg/flashless.d.ts`) rather than a sentence: the page acts on the code, and
//! `flashless.js` turns it into the message, so no message text is in the wasm.

use alloc::borrow::ToOwned;
use alloc::string::String;
use flashless_core::fmp4::Track;
use js_sys::Object;

use crate::js::{self, set};

/// RFC 6455's "going away": what a draining gateway closes its WS-FLV viewers with.
pub const GOING_AWAY: u16 = 1001;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Network,
    Media,
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: Kind,
    /// One of `ErrorDetails`.
    pub details: &'static str,
    pub track: Option<Track>,
    pub codec: Option<String>,
    pub http_status: Option<u16>,
    /// The code a WebSocket closed with.
    pub close_code: Option<u16>,
    /// What the browser or the stream said, appended to the message.
    pub reason: Option<String>,
    /// A `codec-unsupported` video codec that `renderer: 'webcodecs'` plays.
    pub webcodecs: bool,
}

impl Failure {
    pub fn new(kind: Kind, details: &'static str) -> Failure {
        Failure {
            kind,
            details,
            track: None,
            codec: None,
            http_status: None,
            close_code: None,
            reason: None,
            webcodecs: false,
        }
    }

    pub fn network(details: &'static str) -> Failure {
        Failure::new(Kind::Network, details)
    }

    pub fn media(details: &'static str, track: Option<Track>) -> Failure {
        Failure {
            track,
            ..Failure::new(Kind::Media, details)
        }
    }

    /// A refused HTTP request: 401, 403 and 404 are answers, not accidents.
    pub fn http(status: u16) -> Failure {
        let details = match status {
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not-found",
            _ => "http-status",
        };
        Failure {
            http_status: Some(status),
            ..Failure::network(details)
        }
    }

    /// A WebSocket closed by the server with `code` that is not a policy code: 1000 the
    /// stream ended, 1001 ("going away") the gateway drains and the viewer should move
    /// to another at once, anything else a lost connection.
    pub fn close(code: u16) -> Failure {
        let details = match code {
            1000 => "ended",
            GOING_AWAY => "draining",
            _ => "connection",
        };
        Failure {
            close_code: Some(code),
            ..Failure::network(details)
        }
    }

    /// The gateway asked the viewer to reconnect elsewhere: not a failure, no backoff.
    pub fn is_move(&self) -> bool {
        self.details == "draining"
    }

    /// A WebSocket the server closed with a policy code: 1008, or 4000–4999 with
    /// 4401/4403/4404 read as the HTTP status they name. Other codes are `None`.
    pub fn policy_close(code: u16) -> Option<Failure> {
        match code {
            4401 | 4403 | 4404 => Some(Failure::http(code - 4000)),
            1008 | 4000..=4999 => Some(Failure::network("policy")),
            _ => None,
        }
    }

    pub fn codec(mut self, codec: &str) -> Failure {
        self.codec = Some(codec.to_owned());
        self
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Failure {
        self.reason = Some(reason.into());
        self
    }

    /// Retrying cannot help: the server answered that this stream is not for us.
    pub fn fatal_by_default(&self) -> bool {
        matches!(
            self.details,
            "unauthorized" | "forbidden" | "not-found" | "policy"
        )
    }

    /// `{ type, details, fatal, track, codec?, httpStatus?, closeCode?, reason?, webcodecs? }`;
    /// `flashless.js` adds `message`.
    pub fn to_js(&self, fatal: bool) -> Object {
        let o = Object::new();
        let kind = match self.kind {
            Kind::Network => "network",
            Kind::Media => "media",
        };
        set(&o, "type", kind);
        set(&o, "details", self.details);
        set(&o, "fatal", fatal);
        set(&o, "track", js::track_name(self.track));
        if let Some(codec) = &self.codec {
            set(&o, "codec", codec.as_str());
        }
        if let Some(status) = self.http_status {
            set(&o, "httpStatus", status);
        }
        if let Some(code) = self.close_code {
            set(&o, "closeCode", code);
        }
        if let Some(reason) = &self.reason {
            set(&o, "reason", reason.as_str());
        }
        if self.webcodecs {
            set(&o, "webcodecs", true);
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::Failure;

    #[test]
    fn refusals_are_fatal_and_accidents_are_not() {
        assert_eq!(Failure::http(403).details, "forbidden");
        assert!(Failure::http(401).fatal_by_default());
        assert!(Failure::http(404).fatal_by_default());
        assert!(!Failure::http(503).fatal_by_default());
        assert!(!Failure::network("connection").fatal_by_default());
        assert_eq!(
            Failure::policy_close(4403).map(|f| f.http_status),
            Some(Some(403))
        );
        assert!(Failure::policy_close(1008).is_some_and(|f| f.fatal_by_default()));
        assert!(Failure::policy_close(1000).is_none());
        assert!(Failure::policy_close(1006).is_none());
        assert!(Failure::policy_close(1001).is_none());
    }

    #[test]
    fn going_away_is_a_move_and_other_closes_are_not() {
        let moved = Failure::close(1001);
        assert_eq!(moved.details, "draining");
        assert_eq!(moved.close_code, Some(1001));
        assert!(moved.is_move() && !moved.fatal_by_default());
        assert_eq!(Failure::close(1000).details, "ended");
        assert!(!Failure::close(1000).is_move());
        assert_eq!(Failure::close(1006).details, "connection");
        assert!(!Failure::close(1006).is_move());
        assert!(!Failure::http(503).is_move());
    }
}
