//! What clients may be told of a failed upstream session. The error itself names the
//! origin (host, port, path, often a stream key in the path or query), so it goes to
//! the log only; `/api/channels` and refused viewers get its class.

use std::io::ErrorKind;

/// A short, URL-free description of why a session failed: "connection refused",
/// "timed out", "TLS error"…
pub fn class(error: &anyhow::Error) -> &'static str {
    for cause in error.chain() {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                ErrorKind::ConnectionRefused => return "connection refused",
                ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => {
                    return "connection reset";
                }
                ErrorKind::TimedOut | ErrorKind::WouldBlock => return "timed out",
                ErrorKind::NotFound => return "not found",
                ErrorKind::PermissionDenied => return "permission denied",
                ErrorKind::UnexpectedEof => return "closed by the origin",
                _ => {}
            }
        }
    }
    let text = format!("{error:#}").to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    if has(&[
        "timed out",
        "no data for",
        "no media for",
        "no http response",
        "no answer",
    ]) {
        "timed out"
    } else if has(&["connection refused"]) {
        "connection refused"
    } else if has(&["dns", "resolv", "lookup"]) {
        "name resolution failed"
    } else if has(&["tls", "certificate"]) {
        "TLS error"
    } else if has(&["http status"]) {
        "HTTP error from the origin"
    } else if has(&["netstream.", "netconnection.", "_error"]) {
        "refused by the origin"
    } else if has(&["already fed"]) {
        "the channel has another source"
    } else if has(&["the stream ended", "closed the connection", "end of"]) {
        "closed by the origin"
    } else if has(&["bad flv", "not a playable flv", "byte "]) {
        "bad media"
    } else {
        "upstream error"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::anyhow;

    #[test]
    fn the_class_never_carries_the_url() {
        let refused = anyhow::Error::new(std::io::Error::from(ErrorKind::ConnectionRefused))
            .context("connecting to origin.internal:1935 (rtmp://origin.internal/live/secret-key)");
        assert_eq!(class(&refused), "connection refused");
        let stalled = anyhow!("origin.internal:1935: no data for 10s");
        assert_eq!(class(&stalled), "timed out");
        let status = anyhow!("origin.internal:80: HTTP status 404 Not Found");
        assert_eq!(class(&status), "HTTP error from the origin");
        assert_eq!(
            class(&anyhow!("http://x/live/key?sig=1 went wrong")),
            "upstream error"
        );
    }
}
