//! Which web pages may read streams: the browser's `Origin` header against the
//! configured origins or, without any, the gateway's own host and localhost. HTTP
//! only: RTMP players are not pages.

use axum::http::{HeaderMap, header};

/// The web origins allowed to read streams.
///
/// Without a list, pages from the request's own `Host` (the gateway's page) and from
/// localhost may. With a list, only its origins may (`*` for any), and the request's
/// own `Host` only when `same_origin` is set: a DNS-rebinding page (`evil.example`
/// resolved to the gateway's internal address) sends `Origin` and `Host` equal too.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    list: Vec<String>,
    same_origin: bool,
}

impl Origins {
    pub fn new(list: Vec<String>, same_origin: bool) -> Origins {
        Origins { list, same_origin }
    }

    /// Whether a browser page from this request's `Origin` may read streams; requests
    /// without one (players, ffmpeg) may.
    pub fn allowed(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
            return true;
        };
        let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let same_host = host == Some(origin_host);
        if self.list.is_empty() {
            let bare = origin_host.rsplit_once(':').map_or(origin_host, |(h, _)| h);
            return same_host || matches!(bare, "localhost" | "127.0.0.1" | "[::1]");
        }
        (self.same_origin && same_host)
            || self
                .list
                .iter()
                .any(|o| o == "*" || o.trim_end_matches('/') == origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(origin: &str, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ORIGIN, origin.parse().unwrap());
        headers.insert(header::HOST, host.parse().unwrap());
        headers
    }

    #[test]
    fn without_a_list_the_own_host_and_localhost_may() {
        let origins = Origins::default();
        assert!(origins.allowed(&request("http://gw.example:8080", "gw.example:8080")));
        assert!(origins.allowed(&request("http://localhost:5173", "gw.example:8080")));
        assert!(!origins.allowed(&request("http://evil.example", "gw.example:8080")));
        assert!(origins.allowed(&HeaderMap::new()), "players send no Origin");
    }

    #[test]
    fn with_a_list_only_the_list_unless_same_origin_is_set() {
        let list = vec!["https://good.example/".to_owned()];
        let origins = Origins::new(list.clone(), false);
        assert!(origins.allowed(&request("https://good.example", "gw.example")));
        assert!(!origins.allowed(&request("http://evil.example", "evil.example")));
        assert!(!origins.allowed(&request("http://localhost:5173", "gw.example")));
        let origins = Origins::new(list, true);
        assert!(origins.allowed(&request("http://gw.example", "gw.example")));
        assert!(!origins.allowed(&request("http://evil.example", "gw.example")));
    }
}
