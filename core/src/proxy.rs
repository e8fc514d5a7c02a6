//! The PROXY protocol header (HAProxy's, versions 1 and 2): the client's address a TCP
//! load balancer sends before a connection's first byte of its own. Check, then parse:
//! [`parse`] says how many more bytes it needs until the header is whole, so a caller
//! reads exactly the header and not a byte of what follows.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Version 2's signature, the first 12 bytes of its header.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The longest version 1 line, CRLF included (the specification's limit).
const V1_MAX: usize = 107;
/// Version 2 address blocks (with TLVs) longer than this are refused, not buffered.
const V2_MAX_BLOCK: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// At least this many more bytes belong to the header: read them and ask again.
    Incomplete(usize),
    /// The header is the first `len` bytes; `source` is the client's address, `None`
    /// for the proxy's own connections (`LOCAL`, `UNKNOWN`, a family other than TCP).
    Complete {
        len: usize,
        source: Option<SocketAddr>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("the connection does not start with a PROXY protocol header")]
    Missing,
    #[error("the PROXY protocol v1 line is longer than {V1_MAX} bytes")]
    TooLong,
    #[error("malformed PROXY protocol v1 line")]
    BadV1,
    #[error("unsupported PROXY protocol v2 version or command {0:#04x}")]
    BadV2(u8),
    #[error("PROXY protocol v2 address block of {0} bytes (at most {V2_MAX_BLOCK})")]
    V2TooLong(usize),
}

/// Reads the header at the start of `buf` (the connection's first bytes).
pub fn parse(buf: &[u8]) -> Result<Header, ProxyError> {
    const V1_PREFIX: &[u8] = b"PROXY ";
    let head = &buf[..buf.len().min(V1_PREFIX.len())];
    if !head.is_empty() && V1_PREFIX.starts_with(head) {
        if buf.len() < V1_PREFIX.len() {
            return Ok(Header::Incomplete(V1_PREFIX.len() - buf.len()));
        }
        return v1(buf);
    }
    let head = &buf[..buf.len().min(V2_SIGNATURE.len())];
    if !V2_SIGNATURE.starts_with(head) {
        return Err(ProxyError::Missing);
    }
    if buf.is_empty() {
        // Either version: the shortest v1 line is longer than 6 bytes, a v2 header 16.
        return Ok(Header::Incomplete(V1_PREFIX.len()));
    }
    v2(buf)
}

fn v1(buf: &[u8]) -> Result<Header, ProxyError> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        if buf.len() >= V1_MAX {
            return Err(ProxyError::TooLong);
        }
        return Ok(Header::Incomplete(1));
    };
    let len = end + 2;
    if len > V1_MAX {
        return Err(ProxyError::TooLong);
    }
    let line = core::str::from_utf8(&buf[..end]).map_err(|_| ProxyError::BadV1)?;
    let mut fields = line.split(' ').skip(1);
    let source = match fields.next() {
        Some("UNKNOWN") => None,
        Some(family @ ("TCP4" | "TCP6")) => {
            let mut next = || fields.next().ok_or(ProxyError::BadV1);
            let src: IpAddr = next()?.parse().map_err(|_| ProxyError::BadV1)?;
            let _dst: IpAddr = next()?.parse().map_err(|_| ProxyError::BadV1)?;
            let port: u16 = next()?.parse().map_err(|_| ProxyError::BadV1)?;
            let _dport: u16 = next()?.parse().map_err(|_| ProxyError::BadV1)?;
            if (family == "TCP4") != src.is_ipv4() {
                return Err(ProxyError::BadV1);
            }
            Some(SocketAddr::new(src, port))
        }
        _ => return Err(ProxyError::BadV1),
    };
    Ok(Header::Complete { len, source })
}

fn v2(buf: &[u8]) -> Result<Header, ProxyError> {
    if buf.len() < 16 {
        return Ok(Header::Incomplete(16 - buf.len()));
    }
    let version_command = buf[12];
    let family = buf[13];
    let block = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if version_command >> 4 != 2 || version_command & 0x0f > 1 {
        return Err(ProxyError::BadV2(version_command));
    }
    if block > V2_MAX_BLOCK {
        return Err(ProxyError::V2TooLong(block));
    }
    let len = 16 + block;
    if buf.len() < len {
        return Ok(Header::Incomplete(len - buf.len()));
    }
    let addresses = &buf[16..len];
    let local = version_command & 0x0f == 0;
    let source = match (local, family) {
        (true, _) => None,
        // TCP over IPv4: source, destination, source port, destination port.
        (false, 0x11) if addresses.len() >= 12 => {
            let ip = Ipv4Addr::new(addresses[0], addresses[1], addresses[2], addresses[3]);
            let port = u16::from_be_bytes([addresses[8], addresses[9]]);
            Some(SocketAddr::new(IpAddr::V4(ip), port))
        }
        (false, 0x21) if addresses.len() >= 36 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&addresses[..16]);
            let port = u16::from_be_bytes([addresses[32], addresses[33]]);
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(octets)), port))
        }
        _ => None,
    };
    Ok(Header::Complete { len, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes` the way a reader would: only as many as asked for each time.
    fn read(bytes: &[u8]) -> Result<Header, ProxyError> {
        let mut have = 0;
        loop {
            match parse(&bytes[..have])? {
                Header::Incomplete(n) => {
                    assert!(have + n <= bytes.len(), "asked past the header");
                    have += n;
                }
                done => return Ok(done),
            }
        }
    }

    #[test]
    fn version_1_lines() {
        let line = b"PROXY TCP4 192.0.2.7 10.0.0.1 4711 1935\r\nGET /";
        assert_eq!(
            read(&line[..41]),
            Ok(Header::Complete {
                len: 41,
                source: Some("192.0.2.7:4711".parse().unwrap())
            })
        );
        let six = b"PROXY TCP6 2001:db8::7 2001:db8::1 4711 80\r\n";
        assert!(matches!(read(six), Ok(Header::Complete { source: Some(a), .. }) if a.is_ipv6()));
        assert_eq!(
            read(b"PROXY UNKNOWN\r\n"),
            Ok(Header::Complete {
                len: 15,
                source: None
            })
        );
        assert_eq!(read(b"PROXY TCP4 x y 1 2\r\n"), Err(ProxyError::BadV1));
        assert_eq!(parse(&[b'P'; 3]), Err(ProxyError::Missing));
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Err(ProxyError::Missing));
        let mut long = b"PROXY ".to_vec();
        long.resize(200, b'1');
        assert_eq!(parse(&long), Err(ProxyError::TooLong));
    }

    #[test]
    fn version_2_headers() {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[
            0x21, 0x11, 0, 12, 192, 0, 2, 7, 10, 0, 0, 1, 0x12, 0x67, 0, 80,
        ]);
        assert_eq!(
            read(&h),
            Ok(Header::Complete {
                len: 28,
                source: Some("192.0.2.7:4711".parse().unwrap())
            })
        );
        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0, 0]);
        assert_eq!(
            read(&local),
            Ok(Header::Complete {
                len: 16,
                source: None
            })
        );
        let mut bad = V2_SIGNATURE.to_vec();
        bad.extend_from_slice(&[0x31, 0x11, 0, 0]);
        assert_eq!(parse(&bad), Err(ProxyError::BadV2(0x31)));
        let mut huge = V2_SIGNATURE.to_vec();
        huge.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert_eq!(parse(&huge), Err(ProxyError::V2TooLong(0xffff)));
        // RTMP's first byte is 3: never mistaken for a header.
        assert_eq!(parse(&[3]), Err(ProxyError::Missing));
    }
}
