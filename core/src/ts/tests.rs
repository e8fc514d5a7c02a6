use alloc::vec::Vec;

use bytes::Bytes;

use super::*;
use crate::flv::Tag;
use crate::segment::{SegmentEvent, SegmentOptions, Segmenter};
use crate::test_tags::{capture_looped, h264_and_mp3};

/// The segmenter's init and parts of `tags`, at LL-HLS sizes.
fn segmented(tags: &[Tag]) -> (Bytes, String, Vec<Bytes>) {
    let mut s = Segmenter::new(SegmentOptions {
        target_ms: 2000,
        part_ms: 333,
        longest_ms: None,
        live_playlist: false,
    });
    let (mut init, mut parts) = (None, Vec::new());
    let mut take = |s: &mut Segmenter| {
        while let Some(e) = s.poll_event() {
            match e {
                SegmentEvent::Init { data, mime, .. } => init = Some((data, mime)),
                SegmentEvent::Part { data, .. } => parts.push(data),
                _ => {}
            }
        }
    };
    for t in tags {
        s.feed(t);
        take(&mut s);
    }
    s.flush();
    take(&mut s);
    let (data, mime) = init.expect("an init");
    (data, mime, parts)
}

/// Every packet 188 bytes with its sync byte, each PID's continuity counter one up
/// from its last payload, and every PSI section's CRC right.
fn check_packets(ts: &[u8], counters: &mut [(u16, u8)]) -> Vec<u16> {
    assert_eq!(ts.len() % PACKET, 0);
    let mut pids = Vec::new();
    for p in ts.chunks(PACKET) {
        assert_eq!(p[0], 0x47);
        let pid = u16::from(p[1] & 0x1F) << 8 | u16::from(p[2]);
        let cc = p[3] & 0xF;
        let payload_at = if p[3] & 0x20 != 0 {
            5 + usize::from(p[4])
        } else {
            4
        };
        assert!(payload_at <= PACKET, "adaptation field past the packet");
        match counters.iter_mut().find(|(p, _)| *p == pid) {
            Some((_, last)) => {
                assert_eq!(cc, (*last + 1) & 0xF, "PID {pid:#x}");
                *last = cc;
            }
            None => panic!("PID {pid:#x} not in the PMT"),
        }
        if pid == PAT_PID || pid == PMT_PID {
            let section = &p[payload_at + 1..];
            let len = usize::from(section[1] & 0x0F) << 8 | usize::from(section[2]);
            assert_eq!(crc32(&section[..3 + len]), 0, "PID {pid:#x}: the CRC");
        }
        pids.push(pid);
    }
    pids
}

#[test]
fn a_channel_with_mp3_goes_as_ts_and_others_do_not() {
    assert!(carries("video/mp4; codecs=\"avc1.64001f, mp4a.6B\""));
    assert!(carries("audio/mp4; codecs=\"mp4a.69\""));
    assert!(carries("video/mp4; codecs=\"avc1.42c01e,mp4a.6b\""));
    assert!(!carries("video/mp4; codecs=\"avc1.64001f, mp4a.40.2\""));
    assert!(!carries("video/mp4; codecs=\"hvc1.1.6.L93.B0, mp4a.6B\""));
    assert!(!carries("audio/mp4; codecs=\"fLaC\""));
    assert!(!carries("video/mp4"));
}

#[test]
fn parts_are_whole_packets_whose_counters_run_on() {
    for tags in [h264_and_mp3(2), capture_looped(2)] {
        let (init, _, parts) = segmented(&tags);
        let mut muxer = TsMuxer::new(init).expect("H.264 with MP3 or AAC");
        let mut counters = [
            (PAT_PID, 15),
            (PMT_PID, 15),
            (VIDEO_PID, 15),
            (AUDIO_PID, 15),
        ];
        for part in &parts {
            let ts = muxer.part(part).expect("a part");
            let pids = check_packets(&ts, &mut counters);
            // Each part opens with the tables, so a player can start at any.
            assert_eq!(pids[..2], [PAT_PID, PMT_PID]);
            // A PES per sample of the part, no more, no fewer.
            let pes = ts
                .chunks(PACKET)
                .filter(|p| p[1] & 0x40 != 0 && p[1] & 0x1F == 0x01)
                .count();
            let mut file = muxer.init.to_vec();
            file.extend_from_slice(part);
            let samples: usize = mp4::read(&file)
                .expect("the part")
                .iter()
                .map(|t| t.samples.len())
                .sum();
            assert!(samples > 0);
            assert_eq!(pes, samples);
        }
    }
}

#[test]
fn timestamps_and_the_pcr_are_the_fragments_times_in_90_khz() {
    let (init, _, parts) = segmented(&h264_and_mp3(2));
    let mut muxer = TsMuxer::new(init.clone()).expect("muxer");
    let ts = muxer.part(&parts[1]).expect("a part");
    let mut file = init.to_vec();
    file.extend_from_slice(&parts[1]);
    let tracks = mp4::read(&file).expect("the part");
    let video = &tracks[0];
    let first = &video.samples[0];
    let want_dts = to_90k(first.dts, video.timescale);
    let want_pts = to_90k(first.dts.saturating_add_signed(first.cts), video.timescale);
    let p = ts
        .chunks(PACKET)
        .find(|p| p[1] & 0x40 != 0 && u16::from(p[1] & 0x1F) << 8 | u16::from(p[2]) == VIDEO_PID)
        .expect("a video PES");
    // The adaptation field: random access and the PCR (this part starts at a picture).
    assert_eq!(p[3] & 0x20, 0x20);
    let field = &p[5..5 + usize::from(p[4])];
    let pcr = u64::from(field[1]) << 25
        | u64::from(field[2]) << 17
        | u64::from(field[3]) << 9
        | u64::from(field[4]) << 1
        | u64::from(field[5] >> 7);
    assert_eq!(pcr, want_dts);
    let pes = &p[5 + usize::from(p[4])..];
    assert_eq!(pes[..4], [0, 0, 1, 0xE0]);
    let read = |b: &[u8]| {
        u64::from(b[0] >> 1 & 7) << 30
            | u64::from(b[1]) << 22
            | u64::from(b[2] >> 1) << 15
            | u64::from(b[3]) << 7
            | u64::from(b[4] >> 1)
    };
    assert_eq!(read(&pes[9..14]), want_pts);
    if want_pts != want_dts {
        assert_eq!(pes[7], 0xC0);
        assert_eq!(read(&pes[14..19]), want_dts);
    }
    // Then the access unit delimiter, as HLS asks of H.264 in TS.
    let es = &pes[9 + usize::from(pes[8])..];
    assert_eq!(es[..6], AUD);
}

#[test]
fn the_tables_crc_is_mpeg_2s() {
    // CRC-32/MPEG-2's check value.
    assert_eq!(crc32(b"123456789"), 0x0376_E6E7);
}

#[test]
fn adts_headers_follow_the_configuration() {
    // AAC-LC 44.1 kHz stereo; HE-AAC (SBR) signalled as LC at its core rate; mono 48 kHz.
    assert_eq!(adts_header(&[0x12, 0x10]), Ok([0xFF, 0xF1, 0x50, 0x80]));
    assert_eq!(
        adts_header(&[0x2B, 0x92, 0x08, 0x00]),
        Ok([0xFF, 0xF1, 0x5C, 0x80])
    );
    assert_eq!(adts_header(&[0x11, 0x88]), Ok([0xFF, 0xF1, 0x4C, 0x40]));
    assert!(adts_header(&[0x12]).is_err());
    // An explicit sampling rate (index 15) or an object type past 4 ADTS cannot carry.
    assert!(adts_header(&[0x17, 0x80]).is_err());
    assert!(adts_header(&[0xF8, 0x10]).is_err());
}

#[test]
fn garbage_parts_are_errors_not_panics() {
    let (init, _, parts) = segmented(&h264_and_mp3(2));
    let mut muxer = TsMuxer::new(init).expect("muxer");
    let part = parts[3].to_vec();
    for cut in [0, 7, 8, 40, part.len() / 2, part.len() - 1] {
        let _ = muxer.part(&part[..cut]);
    }
    let mut flipped = part.clone();
    for i in (0..flipped.len()).step_by(7) {
        flipped[i] ^= 0x5A;
        let _ = muxer.part(&flipped);
    }
    assert!(TsMuxer::new(Bytes::from_static(b"\0\0\0\x08moov")).is_err());
}
