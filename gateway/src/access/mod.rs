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
pub use proxy::TrustedProxies;
pub use token::{Denied, Policy, token_in};
