//! What an error says when it becomes an event's text in the browser.
//!
//! With the `messages` feature (the default: the gateway and the full browser build)
//! an error's own `Display`, which names what was wrong and where. Without it (the
//! lean browser build, `flashless/lite`) only a fixed phrase for the kind of failure:
//! every `Display` of the error enums, their format strings and the formatting code
//! they reach would otherwise be linked into the wasm.

#[cfg(not(feature = "messages"))]
use alloc::borrow::ToOwned;
use alloc::string::String;
#[cfg(feature = "messages")]
use alloc::string::ToString;
use core::fmt::Display;

/// `error`'s text, or `kind` alone in the lean build.
#[cfg(feature = "messages")]
pub fn describe<E: Display + ?Sized>(kind: &'static str, error: &E) -> String {
    let _ = kind;
    error.to_string()
}

/// `error`'s text, or `kind` alone in the lean build.
#[cfg(not(feature = "messages"))]
pub fn describe<E: Display + ?Sized>(kind: &'static str, error: &E) -> String {
    let _ = error;
    kind.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_error_or_only_its_kind() {
        let error = crate::flv::FlvError::BadSignature { offset: 0 };
        let text = describe("broken FLV", &error);
        if cfg!(feature = "messages") {
            assert_eq!(text, error.to_string());
        } else {
            assert_eq!(text, "broken FLV");
        }
    }
}
