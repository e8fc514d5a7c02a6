//! `swfVfy=1`: fetch the SWF at `swfUrl` and work out what SWF verification answers with,
//! as rtmpdump's `--swfVfy` does (`hashswf.c`): a `CWS` (zlib) file is inflated and
//! hashed as the `FWS` file it stands for. `ZWS` (LZMA) files are refused.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use flashless_core::rtmp::swf::SwfIdentity;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::Method;

use super::http::{self, HttpUrl};

/// A SWF larger than this, compressed or not, is refused.
const MAX_SWF: usize = 64 << 20;

/// The hash and size of the SWF at `url`.
pub async fn identity(url: &str, limit: Duration) -> Result<SwfIdentity> {
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
}
