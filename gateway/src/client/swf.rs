//! `swfVfy=1`: fetch the SWF at `swfUrl` and work out what SWF verification answers with,
//! as rtmpdump's `--swfVfy` does (`hashswf.c`): a `CWS` (zlib) file is inflated and
//! hashed as the `FWS` file it stands for. `ZWS` (LZMA) files are refused.
//!
//! `swfAge=N` (librtmp's, default 30): a SWF's hash is used for N days before the
//! SWF is fetched again; 0 fetches it at every connection. librtmp keeps the hashes
//! in `~/.swfinfo` across runs; here they are kept in memory, for the life of the
//! process (a gateway reconnecting a pulled channel, a `push` that reconnects), and
//! an expired one is fetched whole (librtmp asks with `If-Modified-Since`).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use flashless_core::rtmp::swf::SwfIdentity;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::Method;

use super::http::{self, HttpUrl};

/// A SWF larger than this, compressed or not, is refused.
const MAX_SWF: usize = 64 << 20;

/// The hash and size of the SWF at `url`, from the cache while younger than
/// `age_days` days.
pub async fn identity(url: &str, age_days: u32, limit: Duration) -> Result<SwfIdentity> {
    // One cache per process, as librtmp's file is one per user.
    static CACHE: Mutex<SwfCache> = Mutex::new(SwfCache::new());
    let cached = |now| {
        CACHE
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(url, age_days, now)
    };
    if let Some(id) = cached(Instant::now()) {
        return Ok(id);
    }
    let id = fetch(url, limit).await?;
    CACHE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(url, id, Instant::now());
    Ok(id)
}

/// SWF identities by URL (without its query, as librtmp keys them), with when
/// each was worked out.
struct SwfCache {
    entries: Option<HashMap<String, (Instant, SwfIdentity)>>,
}

/// Most SWFs remembered; past it the oldest goes.
const MAX_CACHED: usize = 64;
const DAY: Duration = Duration::from_secs(24 * 3600);

impl SwfCache {
    const fn new() -> SwfCache {
        SwfCache { entries: None }
    }

    /// The identity of `url` if known and worked out less than `age_days` days
    /// before `now` (librtmp: whole days, `age` 0 never from the cache).
    fn get(&self, url: &str, age_days: u32, now: Instant) -> Option<SwfIdentity> {
        let (at, id) = self.entries.as_ref()?.get(key(url))?;
        let days = now.saturating_duration_since(*at).as_secs() / DAY.as_secs();
        (age_days > 0 && days < u64::from(age_days)).then_some(*id)
    }

    fn insert(&mut self, url: &str, id: SwfIdentity, now: Instant) {
        let entries = self.entries.get_or_insert_with(HashMap::new);
        if entries.len() >= MAX_CACHED && !entries.contains_key(key(url)) {
            let oldest = entries.iter().min_by_key(|(_, (at, _))| *at);
            if let Some(oldest) = oldest.map(|(k, _)| k.clone()) {
                entries.remove(&oldest);
            }
        }
        entries.insert(key(url).to_owned(), (now, id));
    }
}

fn key(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// Fetches and hashes the SWF at `url`.
async fn fetch(url: &str, limit: Duration) -> Result<SwfIdentity> {
    let url = HttpUrl::parse(url)?;
    let fetch = async {
        let mut conn = http::connect::<Empty<Bytes>>(&url, limit).await?;
        let request = url.request(Method::GET).body(Empty::new())?;
        let response = conn.sender.send_request(request).await?;
        if !response.status().is_success() {
            bail!("HTTP {}", response.status());
        }
        let body = Limited::new(response.into_body(), MAX_SWF)
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(body.to_bytes())
    };
    let data = tokio::time::timeout(limit, fetch)
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {limit:?}"))?
        .with_context(|| format!("fetching the SWF {}", url.display()))?;
    uncompressed(&data)
        .map(|swf| SwfIdentity::of_uncompressed(&swf))
        .with_context(|| format!("the SWF {}", url.display()))
}

/// The SWF as `FWS`, inflating a `CWS` one.
fn uncompressed(data: &[u8]) -> Result<Vec<u8>> {
    let (Some(head), Some(rest)) = (data.get(..8), data.get(8..)) else {
        bail!("{} bytes is not a SWF", data.len());
    };
    match head.get(..3) {
        Some(b"FWS") => Ok(data.to_vec()),
        Some(b"CWS") => {
            let body = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(rest, MAX_SWF)
                .map_err(|e| anyhow::anyhow!("inflating: {e:?}"))?;
            let mut swf = Vec::with_capacity(8 + body.len());
            swf.extend_from_slice(b"FWS");
            swf.extend_from_slice(head.get(3..).unwrap_or_default());
            swf.extend_from_slice(&body);
            Ok(swf)
        }
        Some(b"ZWS") => {
            bail!("LZMA-compressed (ZWS) SWFs are not supported; give swfhash= and swfsize=")
        }
        _ => bail!("not a SWF (no FWS/CWS signature)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compressed_swf_hashes_as_its_uncompressed_self() {
        let plain = b"FWS\x0a\x20\x00\x00\x00 the rest of a small movie...".to_vec();
        let mut cws = b"CWS\x0a\x20\x00\x00\x00".to_vec();
        cws.extend(miniz_oxide::deflate::compress_to_vec_zlib(&plain[8..], 6));
        assert_eq!(uncompressed(&cws).unwrap(), plain);
        assert_eq!(uncompressed(&plain).unwrap(), plain);
        assert!(uncompressed(b"ZWS\x0a\0\0\0\0xx").is_err());
        assert!(uncompressed(b"GIF").is_err());
    }

    #[test]
    fn the_cache_answers_for_swf_age_days_and_never_for_0() {
        let id = SwfIdentity::of_uncompressed(b"FWS\x0a\x10\0\0\0movie");
        let t0 = Instant::now();
        let mut cache = SwfCache::new();
        assert_eq!(cache.get("http://h/p.swf", 30, t0), None);
        cache.insert("http://h/p.swf?v=1", id, t0);
        // The query is not part of the key, as in librtmp.
        assert_eq!(cache.get("http://h/p.swf?v=2", 30, t0), Some(id));
        assert_eq!(
            cache.get("http://h/p.swf", 1, t0 + DAY - Duration::from_secs(1)),
            Some(id)
        );
        assert_eq!(cache.get("http://h/p.swf", 1, t0 + DAY), None);
        assert_eq!(cache.get("http://h/p.swf", 30, t0 + 29 * DAY), Some(id));
        assert_eq!(cache.get("http://h/p.swf", 0, t0), None);
        assert_eq!(cache.get("http://h/other.swf", 30, t0), None);
        // Bounded: the oldest goes.
        for i in 0..MAX_CACHED {
            cache.insert(
                &format!("http://h/{i}.swf"),
                id,
                t0 + Duration::from_secs(1 + i as u64),
            );
        }
        assert_eq!(cache.get("http://h/p.swf", 30, t0), None);
        assert!(cache.get("http://h/0.swf", 30, t0).is_some());
    }
}
