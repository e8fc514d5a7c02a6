//! Who may do what: signed-URL tokens and the authorisation webhook (together the
//! [`Policy`]), connections and attempts per client address, which web origins may read
//! streams, and whose forwarding headers name the real client ([`TrustedProxies`]).
//! The listeners ask before a connection may publish or play.

pub mod attempt;
pub mod limits;
pub mod origin;
pub mod proxy;
pub mod rate;
pub mod token;
pub mod webhook;

pub use attempt::{Action, Attempt};
pub use origin::Origins;
pub use proxy::TrustedProxies;
pub use token::{Denied, Policy, token_in};

/// What `[auth]` says, replaced on reload (the hub's `auth`): tokens and the webhook,
/// the web origins allowed to read streams, the admin token. A connection is judged by
/// what was in force when it asked; one already admitted stays.
#[derive(Default)]
pub struct Auth {
    pub policy: Policy,
    pub origins: Origins,
    /// The bearer token of `/metrics`, the operator's API (`crate::http::admin`).
    pub admin_token: Option<String>,
}
