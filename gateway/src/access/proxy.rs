//! Trusted proxies: a load balancer or reverse proxy in front of the gateway says who
//! the client is in `Forwarded` or `X-Forwarded-For`. Those headers are believed only
//! from the configured proxy addresses; from anyone else they are ignored, or a client
//! could claim any address and pass address-bound tokens, per-address limits and the
//! webhook's checks.
//!
//! A TCP load balancer cannot add headers; with `proxy_protocol` on, connections from
//! trusted proxies start with a PROXY protocol header (v1 or v2) naming the client, on
//! the RTMP and the HTTP listener alike.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::http::HeaderMap;
use flashless_core::proxy::{self, Header};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Addresses and networks whose forwarding headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<Network>,
    /// Their connections start with a PROXY protocol header.
    proxy_protocol: bool,
}

/// `10.0.0.0/8`, `fd00::/8`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    addr: IpAddr,
    prefix: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?}: not an address or a network (10.0.0.0/8, 127.0.0.1, fd00::/8)")]
pub struct BadNetwork(pub String);

impl TrustedProxies {
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<TrustedProxies, BadNetwork> {
        entries
            .iter()
            .map(|e| Network::parse(e.as_ref().trim()))
            .collect::<Result<_, _>>()
            .map(|networks| TrustedProxies {
                networks,
                proxy_protocol: false,
            })
    }

    /// Connections from these proxies start with a PROXY protocol header.
    pub fn with_proxy_protocol(mut self, on: bool) -> TrustedProxies {
        self.proxy_protocol = on;
        self
    }

    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.networks.iter().any(|n| n.contains(ip))
    }

    /// Whether a connection from `peer` starts with a PROXY protocol header.
    pub fn sends_header(&self, peer: IpAddr) -> bool {
        self.proxy_protocol && self.contains(peer)
    }

    /// The client of a connection from `peer`: read from its PROXY protocol header when
    /// `peer` is a trusted proxy sending one (the proxy itself for its own health
    /// checks), else `peer`. Reads exactly the header, within `limit`.
    pub async fn client_of(
        &self,
        socket: &mut TcpStream,
        peer: SocketAddr,
        limit: Duration,
    ) -> anyhow::Result<SocketAddr> {
        if !self.sends_header(peer.ip()) {
            return Ok(peer);
        }
        tokio::time::timeout(limit, read_header(socket))
            .await
            .map_err(|_| anyhow::anyhow!("no PROXY protocol header within {limit:?}"))?
            .map(|source| source.unwrap_or(peer))
    }

    /// The client of a request `peer` sent: from a trusted proxy, the nearest address in
    /// `Forwarded` (else `X-Forwarded-For`) that is not itself a trusted proxy; else `peer`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        let forwarded = forwarded_for(headers);
        let chain = if forwarded.is_empty() {
            x_forwarded_for(headers)
        } else {
            forwarded
        };
        // Right to left: each hop appends the address it received from.
        let mut client = peer;
        for hop in chain.iter().rev() {
            match hop {
                Some(ip) if self.contains(*ip) => client = *ip,
                Some(ip) => return ip.to_canonical(),
                // "unknown" or an obfuscated name: nothing further left can be trusted.
                None => return client,
            }
        }
        client
    }
}

/// Reads a PROXY protocol header, byte-exact: what follows is the client's.
async fn read_header(socket: &mut TcpStream) -> anyhow::Result<Option<SocketAddr>> {
    let mut buf = Vec::with_capacity(64);
    loop {
        match proxy::parse(&buf)? {
            Header::Complete { source, .. } => return Ok(source),
            Header::Incomplete(n) => {
                let start = buf.len();
                buf.resize(start + n, 0);
                let got = socket
                    .read_exact(&mut buf[start..])
                    .await
                    .context("reading the PROXY protocol header");
                if got.is_err() && start == 0 {
                    bail!("closed before the PROXY protocol header");
                }
                got?;
            }
        }
    }
}

impl Network {
    fn parse(s: &str) -> Result<Network, BadNetwork> {
        let bad = || BadNetwork(s.to_owned());
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix.parse::<u8>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(Network { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The `for=` of every `Forwarded` element, in order (RFC 7239); `None` for a hop that
/// is not an address.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| node_address(value.trim().trim_matches('"')))
            })
        })
        .collect()
}

fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|hop| node_address(hop.trim()))
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]:4711` or `2001:db8::1`.
fn node_address(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    node.rsplit_once(':')?.0.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn headers_are_believed_from_trusted_proxies_only() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8", "127.0.0.1"]).unwrap();
        let xff = headers(&[("x-forwarded-for", "198.51.100.7, 10.1.2.3")]);
        assert_eq!(proxies.client(ip("127.0.0.1"), &xff), ip("198.51.100.7"));
        assert_eq!(proxies.client(ip("192.0.2.9"), &xff), ip("192.0.2.9"));
        // A client's own claim, left of the first untrusted hop, is not believed.
        let spoofed = headers(&[("x-forwarded-for", "1.1.1.1, 198.51.100.7")]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &spoofed), ip("198.51.100.7"));
        let fwd = headers(&[(
            "forwarded",
            "for=\"[2001:db8::7]:4711\";proto=https, for=10.9.9.9",
        )]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &fwd), ip("2001:db8::7"));
        let unknown = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &unknown), ip("10.0.0.1"));
        assert_eq!(
            TrustedProxies::default().client(ip("127.0.0.1"), &xff),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn networks_parse_and_match() {
        let p = TrustedProxies::parse(&["192.0.2.0/24", "fd00::/8"]).unwrap();
        assert!(p.contains(ip("192.0.2.200")) && !p.contains(ip("192.0.3.1")));
        assert!(p.contains(ip("::ffff:192.0.2.1")), "mapped IPv4");
        assert!(p.contains(ip("fd12::1")) && !p.contains(ip("fe80::1")));
        assert!(TrustedProxies::parse(&["10.0.0.0/33"]).is_err());
        assert!(TrustedProxies::parse(&["proxy.example"]).is_err());
        assert!(
            TrustedProxies::parse(&["0.0.0.0/0"])
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
    }
}
