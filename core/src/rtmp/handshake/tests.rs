use super::*;
use proptest::prelude::*;

/// Deterministic pseudo-random bytes (xorshift), standing in for the RNG.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn take(hs: &mut Handshake) -> Vec<u8> {
    let mut out = Vec::new();
    hs.poll_transmit(&mut out);
    out
}

fn packet(bytes: &[u8]) -> Packet {
    let mut p = [0; PACKET_LEN];
    p.copy_from_slice(bytes);
    p
}

/// Feeds all of `data` in pieces whose sizes come from `split`; everything
/// must be consumed.
fn feed_split(hs: &mut Handshake, data: &[u8], split: &mut dyn FnMut() -> usize) {
    let mut at = 0;
    while at < data.len() {
        let end = (at + split().max(1)).min(data.len());
        let used = hs.feed(&data[at..end]).expect("valid handshake bytes");
        assert_eq!(used, end - at, "all handshake bytes are consumed");
        at = end;
    }
}

/// Runs client and server against each other, returning (C0C1C2, S0S1S2).
fn run(
    client: &mut Handshake,
    server: &mut Handshake,
    split: &mut dyn FnMut() -> usize,
) -> (Vec<u8>, Vec<u8>) {
    let (mut c_sent, mut s_sent) = (Vec::new(), Vec::new());
    for _ in 0..4 {
        let c = take(client);
        feed_split(server, &c, split);
        let s = take(server);
        feed_split(client, &s, split);
        c_sent.extend(c);
        s_sent.extend(s);
    }
    assert!(client.is_done() && server.is_done());
    assert_eq!(
        (c_sent.len(), s_sent.len()),
        (1 + 2 * PACKET_LEN, 1 + 2 * PACKET_LEN)
    );
    (c_sent, s_sent)
}

fn pair(client_scheme: Option<DigestScheme>) -> (Handshake, Handshake) {
    let client = Handshake::client_with(client_scheme, 1234, &noise(1, 3032));
    let server = Handshake::server(5678, &noise(2, 3032));
    (client, server)
}

#[test]
fn plain_exchange_echoes() {
    let mut client = Handshake::client(HandshakeMode::Plain, 1234, &noise(1, 3032));
    let mut server = Handshake::server(5678, &noise(2, 3032));
    let (c, s) = run(&mut client, &mut server, &mut || usize::MAX);
    assert_eq!((c[0], s[0]), (3, 3));
    assert_eq!(&c[1..5], &1234u32.to_be_bytes());
    assert_eq!(&c[5..9], &[0; 4], "plain C1 has a zero version");
    assert_eq!(&s[5..9], &[0; 4], "plain S1 has a zero version");
    assert_eq!(&s[1 + PACKET_LEN..], &c[1..1 + PACKET_LEN], "S2 echoes C1");
    assert_eq!(&c[1 + PACKET_LEN..], &s[1..1 + PACKET_LEN], "C2 echoes S1");
    assert!(!client.peer_digest_used() && !server.peer_digest_used());
    assert!(client.peer_s2_verified() && server.peer_c2_verified());
    assert!(!client.peer_c2_verified() && !server.peer_s2_verified());
    assert_eq!((client.peer_epoch(), server.peer_epoch()), (5678, 1234));
}

#[test]
fn digest_exchange_both_schemes() {
    for scheme in [DigestScheme::Scheme0, DigestScheme::Scheme1] {
        let (mut client, mut server) = pair(Some(scheme));
        let (c, s) = run(&mut client, &mut server, &mut || usize::MAX);
        assert_eq!(server.peer_digest_scheme(), Some(scheme));
        assert_eq!(
            client.peer_digest_scheme(),
            Some(scheme),
            "S1 uses C1's scheme"
        );
        assert!(client.peer_s2_verified() && server.peer_c2_verified());
        assert_eq!(server.peer_version(), CLIENT_VERSION);
        assert_eq!(client.peer_version(), SERVER_VERSION);
        assert_ne!(
            &s[1 + PACKET_LEN..],
            &c[1..1 + PACKET_LEN],
            "S2 is not an echo"
        );

        // Check the wire bytes with the helpers directly, as a peer would.
        let c1 = packet(&c[1..1 + PACKET_LEN]);
        let s1 = packet(&s[1..1 + PACKET_LEN]);
        let (_, c1_digest) = find_digest(&c1, &FP_KEY[..30], scheme).expect("C1 digest");
        let (_, s1_digest) = find_digest(&s1, &FMS_KEY[..36], scheme).expect("S1 digest");
        let s2 = packet(&s[1 + PACKET_LEN..]);
        let c2 = packet(&c[1 + PACKET_LEN..]);
        assert_eq!(
            response_signature(&s2, FMS_KEY, &c1_digest)[..],
            s2[SIGNED_LEN..]
        );
        assert_eq!(
            response_signature(&c2, FP_KEY, &s1_digest)[..],
            c2[SIGNED_LEN..]
        );
    }
}

#[test]
fn public_digest_client_uses_flash_player_version_and_scheme0() {
    let mut client = Handshake::client(HandshakeMode::Digest, 1, &noise(3, 3032));
    let c = take(&mut client);
    assert_eq!(c.len(), 1 + PACKET_LEN);
    assert_eq!(&c[5..9], &[0x09, 0x00, 0x7c, 0x02]);
    let c1 = packet(&c[1..]);
    let found = find_digest(&c1, &FP_KEY[..30], DigestScheme::Scheme1);
    assert_eq!(found.map(|(s, _)| s), Some(DigestScheme::Scheme0));
}

#[test]
fn one_byte_at_a_time() {
    for scheme in [
        None,
        Some(DigestScheme::Scheme0),
        Some(DigestScheme::Scheme1),
    ] {
        let (mut client, mut server) = pair(scheme);
        run(&mut client, &mut server, &mut || 1);
        assert_eq!(server.peer_digest_used(), scheme.is_some());
        assert!(client.peer_s2_verified() && server.peer_c2_verified());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn any_split(seed in any::<u64>(), digest in any::<bool>(), max in 1usize..2000) {
        let (mut client, mut server) = pair(digest.then_some(DigestScheme::Scheme0));
        let mut sizes = noise(seed, 4096).into_iter().cycle();
        run(&mut client, &mut server, &mut || {
            let n = sizes.next().map_or(1, usize::from) * 8;
            n % max + 1
        });
        prop_assert_eq!(client.peer_digest_used(), digest);
        prop_assert!(client.peer_s2_verified() && server.peer_c2_verified());
    }
}

#[test]
fn extra_bytes_are_left_for_the_chunk_decoder() {
    let (mut client, mut server) = pair(Some(DigestScheme::Scheme0));
    let mut c = take(&mut client);
    assert_eq!(server.feed(&c), Ok(c.len()));
    let mut s = take(&mut server);
    s.extend_from_slice(b"chunk!");
    assert_eq!(client.feed(&s), Ok(1 + 2 * PACKET_LEN));
    assert!(client.is_done());
    c = take(&mut client);
    c.extend_from_slice(b"connect");
    assert_eq!(server.feed(&c), Ok(PACKET_LEN));
    assert!(server.is_done());
    assert_eq!(server.feed(b"more"), Ok(0));
    assert_eq!(client.feed(b"more"), Ok(0));
}

#[test]
fn server_takes_c0_c1_c2_in_one_read() {
    // Clients that send C2 without waiting for S1 break the spec, but one
    // buffer holding C0+C1+C2 (+ chunk data) must still work.
    let mut client = Handshake::client(HandshakeMode::Plain, 0, &noise(4, 1528));
    let c0c1 = take(&mut client);
    let mut all = c0c1.clone();
    all.extend_from_slice(&[0xab; PACKET_LEN]);
    all.push(0x03);
    let mut server = Handshake::server(0, &noise(5, 1528));
    assert_eq!(server.feed(&all), Ok(1 + 2 * PACKET_LEN));
    assert!(server.is_done());
    assert!(
        !server.peer_c2_verified(),
        "garbage C2 is accepted but reported"
    );
}

#[test]
fn rtmpe_and_other_versions_are_rejected() {
    for version in [6u8, 8, 9] {
        let err = Handshake::server(0, &[]).feed(&[version, 0, 0]);
        assert_eq!(
            err,
            Err(HandshakeError::UnsupportedVersion {
                packet: "C0",
                version
            })
        );
        let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.contains("RTMPE, encrypted") && msg.contains("C0"),
            "{msg}"
        );
    }
    let mut client = Handshake::client(HandshakeMode::Digest, 0, &[]);
    let err = client
        .feed(&[9])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        err,
        "S0: RTMP version 9 (RTMPE, encrypted) is not supported"
    );
    let err = Handshake::server(0, &[]).feed(b"GET / HTTP/1.1");
    let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("0x47") && msg.contains("HTTP"), "{msg}");
    let err = Handshake::server(0, &[]).feed(&[4]);
    let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("version 4 (0x04)"), "{msg}");
}

#[test]
fn truncated_exchange_is_incomplete_not_an_error() {
    let (mut client, mut server) = pair(Some(DigestScheme::Scheme0));
    let c = take(&mut client);
    assert_eq!(server.feed(&c[..1000]), Ok(1000));
    assert!(!server.is_done() && take(&mut server).is_empty());
    assert_eq!(server.feed(&c[1000..]), Ok(c.len() - 1000));
    let s = take(&mut server);
    assert_eq!(
        client.feed(&s[..1 + PACKET_LEN + 10]),
        Ok(1 + PACKET_LEN + 10)
    );
    assert!(!client.is_done());
    assert_eq!(take(&mut client).len(), PACKET_LEN, "C2 goes out after S1");
    assert_eq!(client.feed(&[]), Ok(0));
    assert!(!server.is_done());
}

#[test]
fn server_answers_plain_when_c1_digest_is_wrong() {
    // Non-zero version but no valid digest (e.g. a corrupted or unknown key).
    let mut c1 = packet(&noise(6, PACKET_LEN));
    c1[4..8].copy_from_slice(&CLIENT_VERSION);
    let mut server = Handshake::server(0, &noise(7, 3032));
    server.feed(&[3]).ok();
    assert_eq!(server.feed(&c1), Ok(PACKET_LEN));
    let s = take(&mut server);
    assert!(!server.peer_digest_used());
    assert_eq!(&s[5..9], &[0; 4]);
    assert_eq!(&s[1 + PACKET_LEN..], &c1[..], "S2 is an exact echo of C1");
}

#[test]
fn client_against_an_echoing_server() {
    // nginx-rtmp answers a C1 without a (recognised) digest by echoing it:
    // S0+S1 = C0+C1 and S2 = C1.
    let mut client = Handshake::client(HandshakeMode::Digest, 7, &noise(8, 100));
    let c = take(&mut client);
    let mut s = c.clone();
    s.extend_from_slice(&c[1..]);
    assert_eq!(client.feed(&s), Ok(s.len()));
    assert!(client.is_done());
    assert!(
        !client.peer_digest_used(),
        "an FP digest is not an FMS digest"
    );
    assert!(client.peer_s2_verified());
    assert_eq!(take(&mut client), &c[1..], "C2 echoes S1");
}

#[test]
fn client_accepts_unverified_s2() {
    let (mut client, mut server) = pair(Some(DigestScheme::Scheme0));
    server.feed(&take(&mut client)).ok();
    let mut s = take(&mut server);
    let last = s.len() - 1;
    s[last] ^= 1;
    assert_eq!(client.feed(&s), Ok(s.len()));
    assert!(client.is_done() && client.peer_digest_used() && !client.peer_s2_verified());
}

#[test]
fn short_random_is_cycled() {
    let mut client = Handshake::client(HandshakeMode::Plain, 0, &[1, 2, 3]);
    let c = take(&mut client);
    assert_eq!(&c[9..15], &[1, 2, 3, 1, 2, 3]);
    let mut server = Handshake::server(0, &[]);
    server.feed(&c).ok();
    assert_eq!(&take(&mut server)[9..20], &[0; 11]);
}

#[test]
fn digest_offsets_stay_in_bounds() {
    let mut p = [0u8; PACKET_LEN];
    assert_eq!(DigestScheme::Scheme0.digest_offset(&p), 12);
    assert_eq!(DigestScheme::Scheme1.digest_offset(&p), 776);
    p.fill(0xff);
    // 4 * 255 = 1020; 1020 % 728 = 292.
    assert_eq!(DigestScheme::Scheme0.digest_offset(&p), 12 + 292);
    assert_eq!(DigestScheme::Scheme1.digest_offset(&p), 776 + 292);
    p[772..776].copy_from_slice(&[255, 255, 217, 0]); // sum 727, the maximum
    assert_eq!(
        DigestScheme::Scheme1.digest_offset(&p) + DIGEST_LEN,
        PACKET_LEN - 1
    );
}

/// Known answer computed independently (Python's `hmac`/`hashlib`) for
/// C1[i] = (7i + 3) mod 256 with time 1000 and version 9.0.124.2.
#[test]
fn known_answer_digest_and_signature() {
    let mut c1: Packet = std::array::from_fn(|i| ((i * 7 + 3) % 256) as u8);
    c1[..4].copy_from_slice(&1000u32.to_be_bytes());
    c1[4..8].copy_from_slice(&CLIENT_VERSION);
    assert_eq!(DigestScheme::Scheme0.digest_offset(&c1), 290); // 12 + 278
    assert_eq!(DigestScheme::Scheme1.digest_offset(&c1), 942); // 776 + 166
    let digest = write_digest(&mut c1, DigestScheme::Scheme0, &FP_KEY[..30]);
    let expected = hex("23c83a4f71db0a64d40c89e0b8b6c8aae32c9493eebb8e860973fd03e6f7e878");
    assert_eq!(digest[..], expected[..]);
    assert_eq!(c1[290..322], expected[..]);

    let s2: Packet = std::array::from_fn(|i| ((i * 13 + 5) % 256) as u8);
    let sig = hex("d1010c22bd2ee65b59add7ce16a308f8a099e23ad5bc26ee7b7faf0c977b6a75");
    assert_eq!(response_signature(&s2, FMS_KEY, &digest)[..], sig[..]);
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[test]
fn hmac_matches_rfc4231_case_6() {
    // RFC 4231 test case 6: a 131-byte key, longer than the block size.
    let key = [0xaa; 131];
    let mac = hmac_sha256(
        &key,
        &[b"Test Using Larger Than Block-Size Key - Hash Key First"],
    );
    let expected = hex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    assert_eq!(mac[..], expected[..]);
}

#[test]
fn debug_is_compact() {
    let hs = Handshake::server(0, &[]);
    let text = format!("{hs:?}");
    assert!(
        text.starts_with("Handshake {") && text.len() < 200,
        "{text}"
    );
}

/// RTMPE types 8 and 9: both sides seal their C2/S2 signature and check the
/// peer's sealed one; the RC4 streams agree; a peer that does not seal (or
/// seals for the other type) fails the check.
#[cfg(feature = "rtmpe")]
#[test]
fn rtmpe_types_8_and_9_sign_and_verify_both_ways() {
    for rtmpe_type in [6u8, 8, 9] {
        let mut client =
            Handshake::client_encrypted_type(7, &noise(1, 1528), &noise(2, 128), rtmpe_type);
        let mut server = Handshake::server(9, &noise(3, 1528));
        server.accept_rtmpe(&noise(4, 128));
        let (c, s) = run(&mut client, &mut server, &mut || 700);
        assert_eq!((c[0], s[0]), (rtmpe_type, rtmpe_type));
        assert_eq!(server.rtmpe_type(), Some(rtmpe_type));
        assert!(server.peer_c2_verified(), "type {rtmpe_type}: C2");
        assert!(client.peer_s2_verified(), "type {rtmpe_type}: S2");
        let (mut a, mut b) = (client.take_cipher().unwrap(), server.take_cipher().unwrap());
        let mut msg = *b"connect";
        a.encrypt(&mut msg);
        b.decrypt(&mut msg);
        assert_eq!(&msg, b"connect");
    }
}

/// A server that answers another type than the client asked for: the client
/// follows the server's S0, as librtmp and ffmpeg do.
#[cfg(feature = "rtmpe")]
#[test]
fn the_client_follows_the_servers_rtmpe_type() {
    for (asked, answered) in [(6u8, 8u8), (6, 9), (8, 6), (9, 8)] {
        let mut client =
            Handshake::client_encrypted_type(0, &noise(5, 1528), &noise(6, 128), asked);
        let mut server = Handshake::server(0, &noise(7, 1528));
        server.accept_rtmpe(&noise(8, 128));
        server.answer_rtmpe_type(answered);
        let (c, s) = run(&mut client, &mut server, &mut || 1537);
        assert_eq!((c[0], s[0]), (asked, answered));
        assert_eq!(client.rtmpe_type(), Some(answered));
        assert!(
            server.peer_c2_verified() && client.peer_s2_verified(),
            "{asked} → {answered}"
        );
    }
    // A type 8 C2 read as type 9 does not verify.
    let mut client = Handshake::client_encrypted_type(0, &noise(5, 1528), &noise(6, 128), 8);
    let mut server = Handshake::server(0, &noise(7, 1528));
    server.accept_rtmpe(&noise(8, 128));
    let c0c1 = take(&mut client);
    feed_split(&mut server, &c0c1, &mut || 4000);
    let s = take(&mut server);
    feed_split(&mut client, &s, &mut || 4000);
    let mut c2 = take(&mut client);
    server.rtmpe_type = 9;
    feed_split(&mut server, &c2, &mut || 4000);
    assert!(!server.peer_c2_verified());
    // And the genuine one, for contrast, with the type restored.
    let mut again = Handshake::server(0, &noise(7, 1528));
    again.accept_rtmpe(&noise(8, 128));
    feed_split(&mut again, &c0c1, &mut || 4000);
    let _ = take(&mut again);
    c2.truncate(PACKET_LEN);
    feed_split(&mut again, &c2, &mut || 4000);
    assert!(again.peer_c2_verified());
}
