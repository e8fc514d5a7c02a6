//! SWF verification, Flash Media Server's check that a player runs an approved SWF, as
//! librtmp answers it (`rtmp.c` `HandleCtrl`, `handshake.h`).
//!
//! After the handshake the server sends user control event 26 (`SWFVerify` request,
//! one byte: the verification type, 1). The client answers with event 27 and 42
//! bytes: `01 01`, the uncompressed SWF's size twice (32-bit big-endian), then
//! HMAC-SHA256 of the SWF's hash keyed by the last 32 bytes of the server's S1. The
//! SWF's hash is itself HMAC-SHA256 of the uncompressed SWF keyed by "Genuine Adobe
//! Flash Player 001" (what rtmpdump's `--swfhash` takes and `--swfVfy` computes).

use bytes::Bytes;

use crate::rtmp::handshake::hmac_sha256;

/// User control event: the server asks for verification.
pub const REQUEST_EVENT: u16 = 26;
/// User control event: the client's answer.
pub const RESPONSE_EVENT: u16 = 27;
/// The answer's length after the event type.
pub const RESPONSE_LEN: usize = 42;

/// The approved SWF: its hash and uncompressed size.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SwfIdentity {
    pub hash: [u8; 32],
    pub size: u32,
}

impl std::fmt::Debug for SwfIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SwfIdentity {{ hash: ")?;
        for b in self.hash {
            write!(f, "{b:02x}")?;
        }
        write!(f, ", size: {} }}", self.size)
    }
}

impl SwfIdentity {
    /// From rtmpdump's `--swfhash` (64 hex digits) and `--swfsize`.
    pub fn from_hex(hash: &str, size: u32) -> Option<SwfIdentity> {
        let hash = hash.trim();
        if hash.len() != 64 || !hash.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(hash.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(SwfIdentity { hash: out, size })
    }

    /// What rtmpdump's `--swfVfy` computes from an uncompressed SWF (`FWS…`, a
    /// compressed one inflated and its signature changed to `F`): HMAC-SHA256 keyed by
    /// "Genuine Adobe Flash Player 001", and the length.
    pub fn of_uncompressed(swf: &[u8]) -> SwfIdentity {
        SwfIdentity {
            hash: hmac_sha256(b"Genuine Adobe Flash Player 001", &[swf]),
            size: u32::try_from(swf.len()).unwrap_or(u32::MAX),
        }
    }

    /// The answer to the server's request on a connection whose S1 ended in `s1_tail`.
    pub fn response(&self, s1_tail: &[u8; 32]) -> [u8; RESPONSE_LEN] {
        let mut out = [0u8; RESPONSE_LEN];
        out[0] = 1;
        out[1] = 1;
        out[2..6].copy_from_slice(&self.size.to_be_bytes());
        out[6..10].copy_from_slice(&self.size.to_be_bytes());
        out[10..].copy_from_slice(&hmac_sha256(s1_tail, &[&self.hash]));
        out
    }

    /// Whether a client's event-27 data is the right answer.
    pub fn check(&self, s1_tail: &[u8; 32], data: &[u8]) -> bool {
        data.get(..RESPONSE_LEN) == Some(&self.response(s1_tail)[..])
    }
}

/// The request's data: verification type 1, the only one librtmp and FMS use.
pub fn request() -> Bytes {
    Bytes::from_static(&[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed with librtmp's rules outside this code, by OpenSSL:
    /// key = 32 bytes 0x00..0x1f (an S1's tail), message = the SWF hash 0xaa × 32:
    /// `printf '\xaa%.0s' $(seq 32) | openssl dgst -sha256 -mac HMAC -macopt hexkey:000102…1f`
    const HMAC_AA_BY_00_1F: &str =
        "43990e16779c4e9fd34d5e26ea42dc39be411c5828d0298fed3d5acdede9932e";

    const SWF_HASH: &str = "730436919b464e53c827d47d16b8bb2c4a7a56d13d2e71e49be31c57a7830f60";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn response_is_librtmps_layout() {
        let swf = SwfIdentity {
            hash: [0xaa; 32],
            size: 0x0001_e240,
        };
        let mut tail = [0u8; 32];
        for (i, b) in tail.iter_mut().enumerate() {
            *b = i as u8;
        }
        let r = swf.response(&tail);
        assert_eq!(&r[..10], &[1, 1, 0, 1, 0xe2, 0x40, 0, 1, 0xe2, 0x40]);
        assert_eq!(r[10..].to_vec(), hex(HMAC_AA_BY_00_1F));
        assert!(swf.check(&tail, &r));
        assert!(!swf.check(&[1; 32], &r));
        assert!(!swf.check(&tail, &r[..41]));
    }

    /// `printf 'FWS\x0a\x0c\x00\x00\x00abcd' | openssl dgst -sha256 -mac HMAC
    /// -macopt key:"Genuine Adobe Flash Player 001"`: rtmpdump's hash of that SWF.
    #[test]
    fn swf_hash_is_rtmpdumps() {
        let swf = b"FWS\x0a\x0c\x00\x00\x00abcd";
        let id = SwfIdentity::of_uncompressed(swf);
        assert_eq!(id.size, 12);
        assert_eq!(id.hash.to_vec(), hex(SWF_HASH));
    }

    #[test]
    fn hashes_parse_from_hex() {
        let s = "00".repeat(31) + "ff";
        assert_eq!(SwfIdentity::from_hex(&s, 5).map(|i| i.hash[31]), Some(0xff));
        assert!(SwfIdentity::from_hex("abc", 5).is_none());
        assert!(SwfIdentity::from_hex(&"zz".repeat(32), 5).is_none());
    }
}
