//! Requests refused by a rule, counted by why: `flashless_denied_total{reason="…"}`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::access::Denied;

/// Why a request was refused, as the `reason` label names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A token missing, malformed, expired or not valid for the request.
    Token,
    /// The authorisation webhook said no, or could not be asked.
    Webhook,
    /// A page of a foreign origin.
    Origin,
    /// A cap reached: viewers, channels, publishers, connections per address.
    Limit,
    /// A missing or wrong admin token on the admin API.
    Admin,
}

impl Reason {
    /// Every reason, in the order `/metrics` lists them.
    pub const ALL: [Reason; 5] = [
        Reason::Token,
        Reason::Webhook,
        Reason::Origin,
        Reason::Limit,
        Reason::Admin,
    ];

    /// The `reason` label's value.
    pub fn label(self) -> &'static str {
        match self {
            Reason::Token => "token",
            Reason::Webhook => "webhook",
            Reason::Origin => "origin",
            Reason::Limit => "limit",
            Reason::Admin => "admin",
        }
    }
}

impl From<&Denied> for Reason {
    fn from(denied: &Denied) -> Self {
        match denied {
            Denied::Missing(_) | Denied::Malformed | Denied::Expired(_) | Denied::BadSignature => {
                Reason::Token
            }
            Denied::Refused(_) | Denied::WebhookUnavailable(_) => Reason::Webhook,
            Denied::WebhookBusy(_) => Reason::Limit,
        }
    }
}

/// One counter per [`Reason`].
#[derive(Default)]
pub struct Denials([AtomicU64; Reason::ALL.len()]);

impl Denials {
    pub fn count(&self, reason: impl Into<Reason>) {
        self.0[reason.into() as usize].fetch_add(1, Relaxed);
    }

    pub fn get(&self, reason: Reason) -> u64 {
        self.0[reason as usize].load(Relaxed)
    }
}
