//! The digest form of the handshake (module docs of `handshake`): the keys, where a
//! digest sits in a C1/S1, and the HMACs that make and check digests and the C2/S2
//! signatures.

use hmac::digest::{Key, KeyInit};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::{DIGEST_LEN, PACKET_LEN, Packet, SIGNED_LEN};

type HmacSha256 = Hmac<Sha256>;

/// "Genuine Adobe Flash Player 001" followed by 32 constant bytes. The first
/// 30 bytes key the C1 digest, all 62 key the S2 -> C2 signature key.
pub(super) const FP_KEY: &[u8; 62] = b"Genuine Adobe Flash Player 001\
\xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57\
\x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE";
pub(super) const FP_KEY_PARTIAL: usize = 30;
/// "Genuine Adobe Flash Media Server 001" followed by the same 32 bytes. The
/// first 36 bytes key the S1 digest, all 68 key the C1 -> S2 signature key.
pub(super) const FMS_KEY: &[u8; 68] = b"Genuine Adobe Flash Media Server 001\
\xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57\
\x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE";
pub(super) const FMS_KEY_PARTIAL: usize = 36;

/// Where the digest of a C1/S1 sits (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestScheme {
    /// Offset bytes 8..12, digest within 12..772.
    Scheme0,
    /// Offset bytes 772..776, digest within 776..1536.
    Scheme1,
}

impl DigestScheme {
    pub(super) fn other(self) -> Self {
        match self {
            Self::Scheme0 => Self::Scheme1,
            Self::Scheme1 => Self::Scheme0,
        }
    }

    /// Byte offset of the digest in `packet`: always in bounds, at most
    /// 776 + 727 = 1503, so the 32 digest bytes end by 1535.
    pub fn digest_offset(self, packet: &[u8; PACKET_LEN]) -> usize {
        let (base, bytes) = match self {
            Self::Scheme0 => (8, [packet[8], packet[9], packet[10], packet[11]]),
            Self::Scheme1 => (772, [packet[772], packet[773], packet[774], packet[775]]),
        };
        let sum: usize = bytes.iter().map(|&b| usize::from(b)).sum();
        base + 4 + sum % 728
    }
}

/// HMAC-SHA256 of the concatenated `parts`.
///
/// HMAC accepts keys of any length (RFC 2104 §2: longer than the 64-byte
/// block are hashed first, shorter are zero-padded), so the key is brought to
/// block size here and the infallible fixed-size constructor is used.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    let mut block = Key::<HmacSha256>::default();
    if key.len() > block.len() {
        let hashed = Sha256::digest(key);
        block[..hashed.len()].copy_from_slice(&hashed);
    } else if let Some(dst) = block.get_mut(..key.len()) {
        dst.copy_from_slice(key);
    }
    let mut mac = <HmacSha256 as KeyInit>::new(&block);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// HMAC of `packet` without the 32 bytes at `offset` (where the digest goes).
fn packet_digest(packet: &Packet, offset: usize, key: &[u8]) -> [u8; DIGEST_LEN] {
    let head = packet.get(..offset).unwrap_or_default();
    let tail = packet.get(offset + DIGEST_LEN..).unwrap_or_default();
    hmac_sha256(key, &[head, tail])
}

/// Computes and stores the digest of `packet` in `scheme`; returns it.
pub(super) fn write_digest(
    packet: &mut Packet,
    scheme: DigestScheme,
    key: &[u8],
) -> [u8; DIGEST_LEN] {
    let offset = scheme.digest_offset(packet);
    let digest = packet_digest(packet, offset, key);
    if let Some(slot) = packet.get_mut(offset..offset + DIGEST_LEN) {
        slot.copy_from_slice(&digest);
    }
    digest
}

/// Looks for a valid digest, trying `first` and then the other scheme.
pub(super) fn find_digest(
    packet: &Packet,
    key: &[u8],
    first: DigestScheme,
) -> Option<(DigestScheme, [u8; DIGEST_LEN])> {
    [first, first.other()].into_iter().find_map(|scheme| {
        let offset = scheme.digest_offset(packet);
        let expected = packet_digest(packet, offset, key);
        (packet.get(offset..offset + DIGEST_LEN) == Some(&expected[..]))
            .then_some((scheme, expected))
    })
}

/// Signature ending a digest-form C2/S2: HMAC over its first 1504 bytes,
/// keyed by HMAC(`full_key`, digest of the C1/S1 it answers).
pub(super) fn response_signature(
    packet: &Packet,
    full_key: &[u8],
    peer_digest: &[u8; DIGEST_LEN],
) -> [u8; DIGEST_LEN] {
    let key = hmac_sha256(full_key, &[peer_digest]);
    hmac_sha256(&key, &[&packet[..SIGNED_LEN]])
}
