//! RTMPE, the encrypted RTMP of Flash Player and Flash Media Server, as librtmp
//! (`handshake.h`, `dh.h`) and ffmpeg (`rtmpcrypt.c`) implement it.
//!
//! The digest handshake carries a Diffie–Hellman exchange: C0/S0 is 6 instead of 3, and
//! C1/S1 hold, besides their digest, a 128-byte public key (RFC 2409's 1024-bit Oakley
//! group 2, generator 2) at an offset derived like the digest's. Each side then keys one
//! RC4 stream per direction with the first 16 bytes of HMAC-SHA256, keyed by the shared
//! secret, of a public key: what the client sends is keyed by the server's public key,
//! what the server sends by the client's. Both streams first discard 1536 bytes
//! (librtmp's "update the keystreams"); everything after C2/S2 is encrypted.
//!
//! This is obfuscation, not security (RC4, no authentication): it exists to reach
//! servers that demand it. The private key is an argument, like all randomness here.

use num_bigint::BigUint;
use rc4::consts::U16;
use rc4::{KeyInit, Rc4, StreamCipher};

use super::{
    DigestScheme, Handshake, HandshakeError, PACKET_LEN, RTMPE_CLIENT_VERSION, Role, Stage,
    hmac_sha256,
};

mod seal;
pub(super) use seal::seal;

/// The C0/S0 byte of RTMPE as librtmp and ffmpeg send it; 8 and 9 are RTMPE too,
/// with XTEA/Blowfish over the C2/S2 signatures (see `seal`).
pub const RTMPE_VERSION: u8 = 6;
/// Every RTMPE handshake type.
pub const RTMPE_TYPES: [u8; 3] = [6, 8, 9];
/// A public key and the shared secret: big-endian, left-padded to 128 bytes.
pub const KEY_LEN: usize = 128;

/// RFC 2409 §6.2, the Second Oakley Group: librtmp's `P1024`.
const P1024: &str = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1\
29024E088A67CC74020BBEA63B139B22514A08798E3404DD\
EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245\
E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED\
EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381\
FFFFFFFFFFFFFFFF";

/// The RTMPE side of a [`Handshake`]: its start as a client or an accepting server,
/// and the RC4 streams at its end.
impl Handshake {
    /// RTMPE client (`rtmpe://`): C0 = 6 and the digest in scheme 1 as librtmp and
    /// ffmpeg send them, with the Diffie–Hellman public key made from
    /// `dh_private` (random bytes from the caller). After the handshake,
    /// [`Handshake::take_cipher`] gives the RC4 streams for everything that follows.
    pub fn client_encrypted(epoch: u32, random: &[u8], dh_private: &[u8]) -> Self {
        Self::client_encrypted_type(epoch, random, dh_private, RTMPE_VERSION)
    }

    /// RTMPE client of handshake type 8 or 9 (C0): XTEA or Blowfish over the C2/S2
    /// signatures (`seal`). Any other type is 6, [`Handshake::client_encrypted`].
    pub fn client_encrypted_type(
        epoch: u32,
        random: &[u8],
        dh_private: &[u8],
        rtmpe_type: u8,
    ) -> Self {
        let mut hs = Self::new(Role::Client, epoch, random);
        hs.encrypted = true;
        hs.rtmpe_type = if matches!(rtmpe_type, 8 | 9) {
            rtmpe_type
        } else {
            6
        };
        hs.dh = Some(KeyPair::new(dh_private));
        hs.build_own(RTMPE_CLIENT_VERSION, Some(DigestScheme::Scheme1));
        hs.own_scheme = Some(DigestScheme::Scheme1);
        hs
    }

    /// Server: answer RTMPE clients with handshake type 8 or 9 whatever their C0
    /// (librtmp and ffmpeg follow the server's S0); by default the client's is echoed.
    pub fn answer_rtmpe_type(&mut self, rtmpe_type: u8) {
        if self.role == Role::Server && RTMPE_TYPES.contains(&rtmpe_type) {
            self.rtmpe_answer = Some(rtmpe_type);
        }
    }

    /// Server: also accept RTMPE clients (C0 = 6, 8 or 9), answering with a key made from
    /// `dh_private`; the key is only computed if a client asks.
    pub fn accept_rtmpe(&mut self, dh_private: &[u8]) {
        if self.role == Role::Server {
            self.dh_private = Some(dh_private.to_vec());
        }
    }

    /// The RC4 streams of an RTMPE connection, once the handshake is done (once).
    pub fn take_cipher(&mut self) -> Option<Cipher> {
        if self.stage == Stage::Done {
            self.cipher.take()
        } else {
            None
        }
    }

    /// RTMPE: the shared secret from the peer's key (placed after its digest's scheme)
    /// and ours, and the RC4 streams from it.
    pub(super) fn start_cipher(&mut self) -> Result<(), HandshakeError> {
        let packet = match self.role {
            Role::Client => "S1",
            Role::Server => "C1",
        };
        let (Some((scheme, _)), Some(dh)) = (self.peer_digest, &self.dh) else {
            return Err(RtmpeError::NoDigest { packet }.into());
        };
        let at = key_offset(&self.rx, scheme);
        let peer = self.rx.get(at..at + KEY_LEN).unwrap_or_default();
        let secret = dh
            .shared(peer)
            .ok_or(RtmpeError::BadPublicKey { packet, offset: at })?;
        self.cipher = Some(Cipher::new(&secret, dh.public(), peer));
        Ok(())
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum RtmpeError {
    /// librtmp's `isValidPublicKey`: 1 < y < p-1 and y^q = 1 (mod p), q = (p-1)/2.
    /// Random bytes fail the last test half the time, so this also catches a key
    /// looked for at the wrong offset.
    #[error("the peer's Diffie-Hellman public key (at byte {offset} of its {packet}) is not valid")]
    BadPublicKey { packet: &'static str, offset: usize },
    #[error("the peer's {packet} has no valid digest, so its Diffie-Hellman key cannot be found")]
    NoDigest { packet: &'static str },
}

/// Our half of the exchange: the private exponent and the public key it gives.
pub(super) struct KeyPair {
    private: BigUint,
    public: [u8; KEY_LEN],
}

impl KeyPair {
    /// `private` is random bytes from the caller (128 are plenty); reduced below q and
    /// kept above 1 so the public key is never 1 or g.
    pub fn new(private: &[u8]) -> KeyPair {
        let p = prime();
        let q = (&p - 1u32) >> 1;
        let mut x = BigUint::from_bytes_be(private) % &q;
        if x < BigUint::from(2u32) {
            x += 2u32;
        }
        let public = padded(&BigUint::from(2u32).modpow(&x, &p));
        KeyPair { private: x, public }
    }

    pub fn public(&self) -> &[u8; KEY_LEN] {
        &self.public
    }

    /// The shared secret with the peer's public key `peer`, checked as librtmp does.
    pub fn shared(&self, peer: &[u8]) -> Option<[u8; KEY_LEN]> {
        let p = prime();
        let y = BigUint::from_bytes_be(peer);
        let one = BigUint::from(1u32);
        let q = (&p - 1u32) >> 1;
        if y <= one || y >= &p - 1u32 || y.modpow(&q, &p) != one {
            return None;
        }
        Some(padded(&y.modpow(&self.private, &p)))
    }
}

/// The two RC4 streams of an RTMPE connection.
pub struct Cipher {
    inbound: Rc4<U16>,
    outbound: Rc4<U16>,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(RC4)")
    }
}

impl Cipher {
    /// librtmp's `InitRC4Encryption` and the keystream update after the handshake.
    pub(super) fn new(secret: &[u8; KEY_LEN], own_public: &[u8], peer_public: &[u8]) -> Cipher {
        let key = |public: &[u8]| {
            let mac = hmac_sha256(secret, &[public]);
            let mut k = [0u8; 16];
            k.copy_from_slice(&mac[..16]);
            Rc4::<U16>::new(&k.into())
        };
        let mut cipher = Cipher {
            outbound: key(peer_public),
            inbound: key(own_public),
        };
        let mut skip = [0u8; PACKET_LEN];
        cipher.outbound.apply_keystream(&mut skip);
        cipher.inbound.apply_keystream(&mut skip);
        cipher
    }

    /// Decrypts received bytes in place.
    pub fn decrypt(&mut self, data: &mut [u8]) {
        self.inbound.apply_keystream(data);
    }

    /// Encrypts bytes about to be sent, in place.
    pub fn encrypt(&mut self, data: &mut [u8]) {
        self.outbound.apply_keystream(data);
    }
}

/// Where the public key sits in a C1/S1 whose digest is in `scheme` (librtmp's
/// `GetDHOffset1`/`GetDHOffset2`): scheme 0 sums bytes 1532..1536 and places it at
/// `772 + sum % 632`, scheme 1 sums bytes 768..772 and places it at `8 + sum % 632`;
/// either way clear of the digest and of the offset bytes.
pub fn key_offset(packet: &[u8; PACKET_LEN], scheme: DigestScheme) -> usize {
    let (at, base) = match scheme {
        DigestScheme::Scheme0 => (1532, 772),
        DigestScheme::Scheme1 => (768, 8),
    };
    let sum: usize = packet[at..at + 4].iter().map(|&b| usize::from(b)).sum();
    base + sum % 632
}

fn prime() -> BigUint {
    // The constant is valid hex; the fallback is unreachable and keeps this panic-free.
    BigUint::parse_bytes(P1024.as_bytes(), 16).unwrap_or_default()
}

fn padded(n: &BigUint) -> [u8; KEY_LEN] {
    let bytes = n.to_bytes_be();
    let mut out = [0u8; KEY_LEN];
    let start = KEY_LEN.saturating_sub(bytes.len());
    let src = bytes
        .get(bytes.len().saturating_sub(KEY_LEN)..)
        .unwrap_or_default();
    if let Some(dst) = out.get_mut(start..) {
        dst.copy_from_slice(src);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_derive_the_same_secret() {
        let a = KeyPair::new(&[7; 128]);
        let b = KeyPair::new(&[9; 64]);
        let s1 = a.shared(b.public()).expect("valid key");
        let s2 = b.shared(a.public()).expect("valid key");
        assert_eq!(s1, s2);
    }

    #[test]
    fn bad_public_keys_are_refused() {
        let a = KeyPair::new(&[7; 128]);
        assert!(a.shared(&[0; 128]).is_none());
        assert!(a.shared(&[1]).is_none());
        assert!(a.shared(&padded(&(prime() - 1u32))).is_none());
        // 2^x is always in the subgroup of order q (2 is a square mod p, p = 7 mod 8).
        assert!(a.shared(&[2]).is_some());
    }

    #[test]
    fn each_direction_decrypts_what_the_other_encrypts() {
        let (a, b) = (KeyPair::new(&[1; 128]), KeyPair::new(&[2; 128]));
        let secret = a.shared(b.public()).expect("valid");
        let mut client = Cipher::new(&secret, a.public(), b.public());
        let mut server = Cipher::new(&secret, b.public(), a.public());
        let mut msg = *b"connect";
        client.encrypt(&mut msg);
        assert_ne!(&msg, b"connect");
        server.decrypt(&mut msg);
        assert_eq!(&msg, b"connect");
        let mut back = *b"_result";
        server.encrypt(&mut back);
        client.decrypt(&mut back);
        assert_eq!(&back, b"_result");
    }

    #[test]
    fn key_offsets_stay_clear_of_digests() {
        let packet = [0xff; PACKET_LEN];
        // Maximal sums: 4 * 255 = 1020, 1020 % 632 = 388.
        assert_eq!(key_offset(&packet, DigestScheme::Scheme0), 772 + 388);
        assert_eq!(key_offset(&packet, DigestScheme::Scheme1), 8 + 388);
        const { assert!(8 + 631 + KEY_LEN <= 768 && 772 + 631 + KEY_LEN <= 1532) };
    }
}
