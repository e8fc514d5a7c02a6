//! The one rule for channel names, at every door: a publish, a play (RTMP or HTTP)
//! and the configuration. Names travel into URLs, log lines, JSON and Prometheus
//! labels, so they are kept short and plain.

/// The longest channel name accepted.
pub const MAX_LEN: usize = 64;

/// Why a channel name was refused; the message is what a client or operator reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadName {
    #[error("the channel name is empty")]
    Empty,
    #[error("the channel name is longer than {MAX_LEN} characters")]
    TooLong,
    #[error("the channel name may use only letters, digits, '-', '_' and '.'")]
    Character,
    /// Keeps `.`, `..` and hidden-file names out of paths and URLs.
    #[error("the channel name may not start with '.'")]
    LeadingDot,
}

/// Checks `name`: 1 to [`MAX_LEN`] characters of `[A-Za-z0-9._-]`, not starting with '.'.
pub fn check(name: &str) -> Result<(), BadName> {
    if name.is_empty() {
        return Err(BadName::Empty);
    }
    if name.len() > MAX_LEN {
        return Err(BadName::TooLong);
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(BadName::Character);
    }
    if name.starts_with('.') {
        return Err(BadName::LeadingDot);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass_and_everything_else_is_refused() {
        for ok in ["cam", "a", "Cam-1_b.2", "x.flv", &"a".repeat(MAX_LEN)] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        assert_eq!(check(""), Err(BadName::Empty));
        assert_eq!(check(&"a".repeat(MAX_LEN + 1)), Err(BadName::TooLong));
        for bad in ["a b", "a\"b", "a\nb", "a/b", "é", "a?b", "a%2e"] {
            assert_eq!(check(bad), Err(BadName::Character), "{bad:?}");
        }
        assert_eq!(check(".."), Err(BadName::LeadingDot));
        assert_eq!(check(".hidden"), Err(BadName::LeadingDot));
    }
}
