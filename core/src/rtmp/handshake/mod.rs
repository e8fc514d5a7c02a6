//! Sans-IO RTMP handshake, client and server.
//!
//! Two flavours are spoken:
//!
//! * **Plain** (RTMP 1.0 spec §5.2): C0/S0 is the version byte (3); C1/S1 are
//!   1536 bytes `time(4) zero(4) random(1528)`; C2/S2 echo the peer's C1/S1.
//! * **Digest**, the undocumented scheme of Flash Player and Flash Media Server
//!   (as implemented by librtmp, ffmpeg, nginx-rtmp, SRS, crtmpserver): C1/S1
//!   carry a non-zero version in bytes 4..8 and a 32-byte HMAC-SHA256 digest
//!   hidden in the random part; C2/S2 are `random(1504)` followed by an
//!   HMAC-SHA256 of those 1504 bytes, keyed by `HMAC(full peer key, peer's
//!   C1/S1 digest)`.
//!
//! The digest position is derived from four "offset bytes" of the packet:
//! scheme 0 sums bytes 8..12 and places the digest at `12 + sum % 728`,
//! scheme 1 sums bytes 772..776 and places it at `776 + sum % 728`. The digest
//! is the HMAC of the whole packet minus those 32 bytes, keyed by the first 30
//! bytes of the Flash Player key (C1) or the first 36 bytes of the FMS key (S1).
//!
//! Nothing here reads a clock or draws random numbers: the caller passes the
//! epoch and the random bytes in. `random` fills C1/S1 (1528 bytes) and then
//! the random part of a digest-form C2/S2 (1504 more bytes); pass 3032 bytes
//! for entirely fresh bytes. Shorter input is cycled, empty input gives zeros
//! (the handshake still works: RTMP's randomness is not a security property).

pub use self::digest::DigestScheme;
pub(crate) use self::digest::hmac_sha256;
use self::digest::{
    FMS_KEY, FMS_KEY_PARTIAL, FP_KEY, FP_KEY_PARTIAL, find_digest, response_signature, write_digest,
};

mod digest;
#[cfg(feature = "rtmpe")]
pub mod rtmpe;
#[cfg(test)]
mod tests;

/// Size of C1/S1/C2/S2 (spec §5.2.3).
pub const PACKET_LEN: usize = 1536;
/// The only RTMP version byte spoken here (spec §5.2.2).
pub const RTMP_VERSION: u8 = 3;
const DIGEST_LEN: usize = 32;
/// Length of the random part of C1/S1 (after time and version).
const RANDOM_LEN: usize = PACKET_LEN - 8;
/// A digest-form C2/S2 signs its first 1504 bytes and ends with the signature.
const SIGNED_LEN: usize = PACKET_LEN - DIGEST_LEN;

/// Version sent in a digest C1: Flash Player 9.0.124.2, the value ffmpeg and
/// librtmp use. FMS and nginx-rtmp only look at it being non-zero.
const CLIENT_VERSION: [u8; 4] = [0x09, 0x00, 0x7c, 0x02];
/// Version sent in a digest S1 (FMS 3.5.1.1). It must be non-zero: librtmp
/// falls back to the plain handshake on a zero S1 version, and ffmpeg only
/// checks S1/S2 digests when the first byte is >= 3.
const SERVER_VERSION: [u8; 4] = [0x03, 0x05, 0x01, 0x01];
/// Version sent in an RTMPE C1: ffmpeg's 9.0.124.2, not librtmp's 128.0.3.2, which
/// librtmp-based servers take for "Flash Player 10" and answer with the XTEA-signed
/// type 8 handshake. That one is spoken here too (`rtmpe::seal`), but a type 6
/// answer is what every RTMPE server gives a Flash Player 9.
#[cfg(feature = "rtmpe")]
const RTMPE_CLIENT_VERSION: [u8; 4] = CLIENT_VERSION;

type Packet = [u8; PACKET_LEN];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeMode {
    /// Spec handshake: zero version, no digest.
    Plain,
    /// Flash Player style C1 with an HMAC digest (scheme 0).
    Digest,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum HandshakeError {
    /// The peer's C0/S0 is not 3.
    #[error("{packet}: {}", version_problem(*.version))]
    UnsupportedVersion {
        /// "C0" (seen by a server) or "S0" (seen by a client).
        packet: &'static str,
        version: u8,
    },
    /// We asked for RTMPE (C0 = 6) and the server answered plain RTMP.
    #[error(
        "the server answered rtmpe:// with plain RTMP (S0 = {version}): it does not offer RTMPE"
    )]
    NotEncrypted { version: u8 },
    #[cfg(feature = "rtmpe")]
    #[error(transparent)]
    Rtmpe(#[from] rtmpe::RtmpeError),
}

fn version_problem(version: u8) -> String {
    match version {
        6 | 8 | 9 => format!("RTMP version {version} (RTMPE, encrypted) is not supported"),
        // Spec §5.2.2: values >= 32 are disallowed so that RTMP can be told
        // apart from text protocols; a printable byte is likely one of those.
        0x20..=0x7e => format!(
            "version byte {version} (0x{version:02x}, {:?}) is not RTMP; another protocol (HTTP?) on this port?",
            char::from(version)
        ),
        _ => format!("RTMP version {version} (0x{version:02x}) is not supported, only 3"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Client,
    Server,
}

/// What the next received bytes are. Both roles walk the same stages: the
/// peer's version byte, its C1/S1, then its C2/S2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Version,
    First,
    Second,
    Done,
}

/// One side of an RTMP handshake. Feed it received bytes with [`feed`],
/// send what [`poll_transmit`] gives, until [`is_done`].
///
/// [`feed`]: Handshake::feed
/// [`poll_transmit`]: Handshake::poll_transmit
/// [`is_done`]: Handshake::is_done
pub struct Handshake {
    role: Role,
    stage: Stage,
    random: Vec<u8>,
    epoch: u32,
    /// Our C1 (client) or S1 (server), kept to check the peer's echo of it.
    own: Box<Packet>,
    /// The digest embedded in `own`, if any.
    own_digest: Option<[u8; DIGEST_LEN]>,
    own_scheme: Option<DigestScheme>,
    /// The peer's packet being received and how much of it has arrived.
    rx: Box<Packet>,
    rx_len: usize,
    tx: Vec<u8>,
    peer_epoch: u32,
    peer_version: [u8; 4],
    peer_digest: Option<(DigestScheme, [u8; DIGEST_LEN])>,
    peer_response_verified: bool,
    /// RTMPE: C0/S0 is 6 (8, 9) and C1/S1 carry a Diffie–Hellman key (see `rtmpe`).
    encrypted: bool,
    /// RTMPE: the handshake type, 6, 8 or 9: ours until the server's S0 says (a
    /// client), the client's or the one we answer with (a server).
    rtmpe_type: u8,
    /// Server: the RTMPE type answered whatever the client's (`answer_rtmpe_type`).
    #[cfg(feature = "rtmpe")]
    rtmpe_answer: Option<u8>,
    /// Client: the last 32 bytes of the server's S1, which key SWF verification.
    s1_tail: [u8; DIGEST_LEN],
    /// Server: the private key to use if a client asks for RTMPE.
    #[cfg(feature = "rtmpe")]
    dh_private: Option<Vec<u8>>,
    #[cfg(feature = "rtmpe")]
    dh: Option<rtmpe::KeyPair>,
    #[cfg(feature = "rtmpe")]
    cipher: Option<rtmpe::Cipher>,
}

impl std::fmt::Debug for Handshake {
    // Summarised: the 1536-byte buffers are of no use in a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handshake")
            .field("role", &self.role)
            .field("stage", &self.stage)
            .field("peer_digest", &self.peer_digest_scheme())
            .field("peer_response_verified", &self.peer_response_verified)
            .field("queued", &self.tx.len())
            .finish_non_exhaustive()
    }
}

impl Handshake {
    /// Client: immediately queues C0+C1.
    ///
    /// `Digest` mode puts version 9.0.124.2 in C1 bytes 4..8 and a Flash
    /// Player digest in scheme 0, as Flash Player 9+ (unencrypted), ffmpeg,
    /// librtmp and nginx-rtmp do: every server that understands digests
    /// checks scheme 0, and FMS accepts both. `Plain` sends a zero version.
    /// `random` is cycled if shorter than 1528 bytes (module docs).
    ///
    /// In either mode, an S1 carrying a valid FMS digest is answered with a
    /// digest-form C2 (and [`Handshake::peer_digest_used`] is true); any
    /// other S1 is echoed as C2. An S2 that does not verify is accepted, as
    /// servers differ; see [`Handshake::peer_s2_verified`].
    pub fn client(mode: HandshakeMode, epoch: u32, random: &[u8]) -> Self {
        match mode {
            HandshakeMode::Plain => Self::client_with(None, epoch, random),
            HandshakeMode::Digest => Self::client_with(Some(DigestScheme::Scheme0), epoch, random),
        }
    }

    /// Client with a digest in `scheme`, or plain if `None`.
    fn client_with(scheme: Option<DigestScheme>, epoch: u32, random: &[u8]) -> Self {
        let mut hs = Self::new(Role::Client, epoch, random);
        let version = if scheme.is_some() {
            CLIENT_VERSION
        } else {
            [0; 4]
        };
        hs.build_own(version, scheme);
        hs.own_scheme = scheme;
        hs
    }

    /// Server: answers C0+C1 with S0+S1+S2 once they arrive.
    ///
    /// A C1 with a valid Flash Player digest (either scheme) gets the digest
    /// form: S1 with an FMS digest in the same scheme, S2 signed from C1's
    /// digest. Any other C1 gets the plain form: zero-version S1, S2 an exact
    /// echo of C1. A C2 that verifies neither way is still accepted, as FMS
    /// and nginx-rtmp do; see [`Handshake::peer_c2_verified`].
    pub fn server(epoch: u32, random: &[u8]) -> Self {
        Self::new(Role::Server, epoch, random)
    }

    fn new(role: Role, epoch: u32, random: &[u8]) -> Self {
        Self {
            role,
            stage: Stage::Version,
            random: random.to_vec(),
            epoch,
            own: Box::new([0; PACKET_LEN]),
            own_digest: None,
            own_scheme: None,
            rx: Box::new([0; PACKET_LEN]),
            rx_len: 0,
            tx: Vec::with_capacity(1 + 2 * PACKET_LEN),
            peer_epoch: 0,
            peer_version: [0; 4],
            peer_digest: None,
            peer_response_verified: false,
            encrypted: false,
            rtmpe_type: 6,
            #[cfg(feature = "rtmpe")]
            rtmpe_answer: None,
            s1_tail: [0; DIGEST_LEN],
            #[cfg(feature = "rtmpe")]
            dh_private: None,
            #[cfg(feature = "rtmpe")]
            dh: None,
            #[cfg(feature = "rtmpe")]
            cipher: None,
        }
    }

    /// The RTMPE handshake type in use (6, 8 or 9), once known; `None` unencrypted.
    pub fn rtmpe_type(&self) -> Option<u8> {
        self.encrypted.then_some(self.rtmpe_type)
    }

    /// The last 32 bytes of the server's S1 (ours on a server): the key of the
    /// SWF verification answer (`rtmp::swf`).
    pub fn s1_tail(&self) -> [u8; DIGEST_LEN] {
        match self.role {
            Role::Client => self.s1_tail,
            Role::Server => {
                let mut tail = [0; DIGEST_LEN];
                tail.copy_from_slice(&self.own[SIGNED_LEN..]);
                tail
            }
        }
    }

    /// Whether this is an RTMPE handshake.
    pub fn is_encrypted(&self) -> bool {
        self.encrypted
    }

    /// Feeds received bytes and returns how many were consumed. Bytes past
    /// the handshake are left for the chunk decoder. Any split works; a
    /// partial exchange is simply not done yet.
    pub fn feed(&mut self, input: &[u8]) -> Result<usize, HandshakeError> {
        let mut used = 0;
        while let Some(rest) = input.get(used..) {
            match self.stage {
                Stage::Done => break,
                Stage::Version => {
                    let Some(&version) = rest.first() else { break };
                    self.check_version(version)?;
                    used += 1;
                    self.stage = Stage::First;
                }
                Stage::First | Stage::Second => {
                    let Some(slot) = self.rx.get_mut(self.rx_len..) else {
                        break;
                    };
                    let n = slot.len().min(rest.len());
                    if n == 0 {
                        break;
                    }
                    if let (Some(dst), Some(src)) = (slot.get_mut(..n), rest.get(..n)) {
                        dst.copy_from_slice(src);
                    }
                    self.rx_len += n;
                    used += n;
                    if self.rx_len == PACKET_LEN {
                        self.rx_len = 0;
                        self.on_packet()?;
                    }
                }
            }
        }
        Ok(used)
    }

    /// Appends the bytes to send to `out` and clears the internal queue.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.tx);
    }

    /// Client: S2 received (C2 is queued by then). Server: C2 received.
    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Whether the peer's C1 (server) or S1 (client) carried a valid digest,
    /// i.e. the digest handshake is in use.
    pub fn peer_digest_used(&self) -> bool {
        self.peer_digest.is_some()
    }

    /// The scheme of the peer's valid C1/S1 digest, if any.
    pub fn peer_digest_scheme(&self) -> Option<DigestScheme> {
        self.peer_digest.map(|(scheme, _)| scheme)
    }

    /// Server: the client's C2 matched, either signed from our S1 digest or
    /// echoing S1's random bytes. Always false on a client.
    pub fn peer_c2_verified(&self) -> bool {
        self.role == Role::Server && self.peer_response_verified
    }

    /// Client: the server's S2 matched, either signed from our C1 digest or
    /// echoing C1's random bytes. Always false on a server.
    pub fn peer_s2_verified(&self) -> bool {
        self.role == Role::Client && self.peer_response_verified
    }

    /// The peer's C1/S1 time field (its epoch, spec §5.2.3).
    pub fn peer_epoch(&self) -> u32 {
        self.peer_epoch
    }

    /// The peer's C1/S1 bytes 4..8: zero in the plain handshake, the
    /// Flash Player / server version in the digest one.
    pub fn peer_version(&self) -> [u8; 4] {
        self.peer_version
    }

    /// The peer's C0/S0: 3, or an RTMPE 6 (8) where one was asked for or is accepted.
    fn check_version(&mut self, version: u8) -> Result<(), HandshakeError> {
        let packet = match self.role {
            Role::Client => "S0",
            Role::Server => "C0",
        };
        match (self.role, version) {
            (Role::Client, RTMP_VERSION) if self.encrypted => {
                Err(HandshakeError::NotEncrypted { version })
            }
            (_, RTMP_VERSION) => Ok(()),
            // The server's type rules, as in librtmp and ffmpeg.
            #[cfg(feature = "rtmpe")]
            (Role::Client, 6 | 8 | 9) if self.encrypted => {
                self.rtmpe_type = version;
                Ok(())
            }
            #[cfg(feature = "rtmpe")]
            (Role::Server, 6 | 8 | 9) if self.dh_private.is_some() => {
                self.encrypted = true;
                self.rtmpe_type = self.rtmpe_answer.unwrap_or(version);
                Ok(())
            }
            _ => Err(HandshakeError::UnsupportedVersion { packet, version }),
        }
    }

    /// Fills our C1/S1 (time, version, random, RTMPE key, optional digest) and
    /// queues C0/S0 + C1/S1.
    fn build_own(&mut self, version: [u8; 4], scheme: Option<DigestScheme>) {
        let own = &mut *self.own;
        own[..4].copy_from_slice(&self.epoch.to_be_bytes());
        own[4..8].copy_from_slice(&version);
        fill_random(&mut own[8..], &self.random, 0);
        #[cfg(feature = "rtmpe")]
        if let (true, Some(dh), Some(scheme)) = (self.encrypted, &self.dh, scheme) {
            // Before the digest, which signs it.
            let at = rtmpe::key_offset(own, scheme);
            if let Some(slot) = own.get_mut(at..at + rtmpe::KEY_LEN) {
                slot.copy_from_slice(dh.public());
            }
        }
        self.own_digest = scheme.map(|scheme| {
            let key = match self.role {
                Role::Client => &FP_KEY[..FP_KEY_PARTIAL],
                Role::Server => &FMS_KEY[..FMS_KEY_PARTIAL],
            };
            write_digest(own, scheme, key)
        });
        let c0 = if self.encrypted {
            self.rtmpe_type
        } else {
            RTMP_VERSION
        };
        self.tx.push(c0);
        self.tx.extend_from_slice(&*self.own);
    }

    fn on_packet(&mut self) -> Result<(), HandshakeError> {
        match self.stage {
            Stage::First => {
                self.on_peer_first()?;
                self.stage = Stage::Second;
            }
            Stage::Second => {
                self.peer_response_verified = self.check_response();
                self.stage = Stage::Done;
            }
            Stage::Version | Stage::Done => {}
        }
        Ok(())
    }

    /// The peer's C1 (server) or S1 (client) is in `rx`.
    fn on_peer_first(&mut self) -> Result<(), HandshakeError> {
        let rx = &*self.rx;
        self.peer_epoch = u32::from_be_bytes([rx[0], rx[1], rx[2], rx[3]]);
        self.peer_version = [rx[4], rx[5], rx[6], rx[7]];
        self.s1_tail.copy_from_slice(&rx[SIGNED_LEN..]);
        let (peer_key, own_full_key): (&[u8], &[u8]) = match self.role {
            Role::Client => (&FMS_KEY[..FMS_KEY_PARTIAL], FP_KEY),
            Role::Server => (&FP_KEY[..FP_KEY_PARTIAL], FMS_KEY),
        };
        // Servers answer in the client's scheme, so a client tries its own
        // first; the other is a fallback. Either order is correct, as a
        // random match of a 32-byte HMAC is out of the question.
        let first_scheme = self.own_scheme.unwrap_or(DigestScheme::Scheme0);
        // Unlike nginx-rtmp we look for a digest even behind a zero version
        // (as SRS does): a valid digest is unmistakable either way.
        self.peer_digest = find_digest(rx, peer_key, first_scheme);
        #[cfg(feature = "rtmpe")]
        if self.encrypted {
            let packet = match self.role {
                Role::Client => "S1",
                Role::Server => "C1",
            };
            if self.peer_digest.is_none() {
                return Err(rtmpe::RtmpeError::NoDigest { packet }.into());
            }
            if self.dh.is_none() {
                self.dh = self.dh_private.as_deref().map(rtmpe::KeyPair::new);
            }
        }

        if self.role == Role::Server {
            match self.peer_digest {
                Some((scheme, _)) => self.build_own(SERVER_VERSION, Some(scheme)),
                None => self.build_own([0; 4], None),
            }
        }
        // C2 / S2: signed from the peer's digest, or an exact echo (spec
        // §5.2.4; nginx-rtmp, FMS and librtmp echo time and time2 too).
        match self.peer_digest {
            Some((_, digest)) => {
                let mut reply = [0u8; PACKET_LEN];
                fill_random(&mut reply[..SIGNED_LEN], &self.random, RANDOM_LEN);
                let signature = self.sealed_signature(&reply, own_full_key, &digest);
                reply[SIGNED_LEN..].copy_from_slice(&signature);
                self.tx.extend_from_slice(&reply);
            }
            None => self.tx.extend_from_slice(&*self.rx),
        }
        #[cfg(feature = "rtmpe")]
        if self.encrypted {
            self.start_cipher()?;
        }
        Ok(())
    }

    /// Checks the peer's C2 (server) or S2 (client) in `rx` against our
    /// C1/S1: a signature keyed from our digest, or an echo of our random
    /// bytes. Time fields are ignored: peers fill time2 differently.
    fn check_response(&self) -> bool {
        let peer_full_key: &[u8] = match self.role {
            Role::Client => FMS_KEY,
            Role::Server => FP_KEY,
        };
        let signed = self.own_digest.is_some_and(|digest| {
            self.sealed_signature(&self.rx, peer_full_key, &digest)[..] == self.rx[SIGNED_LEN..]
        });
        signed || self.rx[8..] == self.own[8..]
    }

    /// [`response_signature`], encrypted for RTMPE types 8 and 9 (`rtmpe::seal`).
    fn sealed_signature(
        &self,
        packet: &Packet,
        full_key: &[u8],
        peer_digest: &[u8; DIGEST_LEN],
    ) -> [u8; DIGEST_LEN] {
        #[allow(unused_mut)] // sealed only with RTMPE
        let mut signature = response_signature(packet, full_key, peer_digest);
        #[cfg(feature = "rtmpe")]
        if self.encrypted {
            let key = hmac_sha256(full_key, &[peer_digest]);
            rtmpe::seal(&mut signature, &key, self.rtmpe_type);
        }
        signature
    }
}

/// Fills `dst` from `random` starting at `start`, cycling; zeros if empty.
fn fill_random(dst: &mut [u8], random: &[u8], start: usize) {
    if random.is_empty() {
        dst.fill(0);
        return;
    }
    let skip = start % random.len();
    for (d, s) in dst.iter_mut().zip(random.iter().cycle().skip(skip)) {
        *d = *s;
    }
}
