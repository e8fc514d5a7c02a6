//! The one rule for channel names, at every door: a publish, a play (RTMP or HTTP)
//! and the configuration. Names travel into URLs, log lines, JSON and Prometheus
//! labels, so they are kept short and plain.
//!
//! A channel's address is its RTMP app and stream name, as nginx-rtmp and SRS have it:
//! `rtmp://host/live/cam` and `rtmp://host/other/cam` are two channels. The default
//! app, `live`, is left out of the name (`cam`, as before apps counted); any other app
//! leads it (`other/cam`).

/// The longest channel name accepted, and the longest app name.
pub const MAX_LEN: usize = 64;

/// The app a bare name belongs to.
pub const DEFAULT_APP: &str = "live";

/// App names that are the gateway's own HTTP paths (`/<app>/<name>.flv` would not reach
/// a channel there).
pub const RESERVED_APPS: &[&str] = &["api", "web", "pkg", "watch", "embed", "recordings"];

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
    #[error("the app name {0:?} is one of the gateway's own paths")]
    ReservedApp(String),
    /// `live/cam` is written `cam`: one channel, one name.
    #[error("the default app is left out of the name: write {0:?}")]
    DefaultApp(String),
}

/// Checks `name`: `stream` or `app/stream`, each part 1 to [`MAX_LEN`] characters of
/// `[A-Za-z0-9._-]` not starting with '.'; the app neither [`DEFAULT_APP`] nor reserved.
pub fn check(name: &str) -> Result<(), BadName> {
    if name.len() > 2 * MAX_LEN + 1 {
        return Err(BadName::TooLong);
    }
    match name.split_once('/') {
        None => check_part(name),
        Some((app, stream)) => {
            check_part(app)?;
            check_part(stream)?;
            if app == DEFAULT_APP {
                return Err(BadName::DefaultApp(stream.to_owned()));
            }
            if RESERVED_APPS.contains(&app) {
                return Err(BadName::ReservedApp(app.to_owned()));
            }
            Ok(())
        }
    }
}

/// The channel name of `stream` in `app` (an RTMP connect's app, or the first segment of
/// an HTTP path): `stream` in the default app, else `app/stream`. Not checked: a stream
/// holding a '/' gives a name [`check`] refuses.
pub fn qualify(app: &str, stream: &str) -> String {
    // FMS-style `app/_definst_` and a trailing slash name the same app.
    let app = app.trim_end_matches('/');
    let app = app.strip_suffix("/_definst_").unwrap_or(app);
    if (app.is_empty() || app == DEFAULT_APP) && !stream.contains('/') {
        stream.to_owned()
    } else {
        format!("{app}/{stream}")
    }
}

/// A configured name in its one form: `live/cam` is `cam`.
pub fn canonical(name: &str) -> String {
    match name.split_once('/') {
        Some((app, stream)) => qualify(app, stream),
        None => name.to_owned(),
    }
}

/// The app and the stream name of a channel name.
pub fn split(name: &str) -> (&str, &str) {
    name.split_once('/').unwrap_or((DEFAULT_APP, name))
}

fn check_part(part: &str) -> Result<(), BadName> {
    if part.is_empty() {
        return Err(BadName::Empty);
    }
    if part.len() > MAX_LEN {
        return Err(BadName::TooLong);
    }
    if !part
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(BadName::Character);
    }
    if part.starts_with('.') {
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
        for bad in ["a b", "a\"b", "a\nb", "a/b/c", "é", "a?b", "a%2e"] {
            assert_eq!(check(bad), Err(BadName::Character), "{bad:?}");
        }
        assert_eq!(check(".."), Err(BadName::LeadingDot));
        assert_eq!(check(".hidden"), Err(BadName::LeadingDot));
    }

    #[test]
    fn an_app_other_than_live_leads_the_name() {
        assert_eq!(check("other/cam"), Ok(()));
        assert_eq!(qualify("live", "cam"), "cam");
        assert_eq!(qualify("", "cam"), "cam");
        assert_eq!(qualify("live/", "cam"), "cam");
        assert_eq!(qualify("other", "cam"), "other/cam");
        assert_eq!(qualify("other/_definst_", "cam"), "other/cam");
        assert_eq!(split("other/cam"), ("other", "cam"));
        assert_eq!(split("cam"), ("live", "cam"));
        assert_eq!(canonical("live/cam"), "cam");
        assert_eq!(canonical("other/cam"), "other/cam");
        // A stream name with a slash never passes, whatever the app.
        assert!(check(&qualify("live", "other/cam")).is_err());
        assert_eq!(check("live/cam"), Err(BadName::DefaultApp("cam".into())));
        assert_eq!(check("api/cam"), Err(BadName::ReservedApp("api".into())));
        assert_eq!(check("/cam"), Err(BadName::Empty));
        assert_eq!(check("a/"), Err(BadName::Empty));
        assert_eq!(check("../cam"), Err(BadName::LeadingDot));
    }
}
