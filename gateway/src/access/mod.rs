//! Who may do what: signed-URL tokens and the authorisation webhook (together the
//! [`Policy`]), connections per client address, and which web origins may read streams.
//! The listeners ask before a connection may publish or play.

pub mod attempt;
pub mod limits;
pub mod origin;
pub mod token;
pub mod webhook;

pub use attempt::{Action, Attempt};
pub use token::{Denied, Policy, token_in};
