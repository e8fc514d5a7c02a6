//! Legacy FLV audio (G.711, PCM, Flash ADPCM, Nellymoser) converted to FLAC, against the
//! reference tools: the encoder's frames pass `flac -t` and decode in ffmpeg to
//! exactly the samples put in; FLV files ffmpeg made with each legacy codec,
//! remuxed, decode in ffmpeg without a word and to the very samples ffmpeg
//! decodes from the FLV.
//!
//! Needs ffmpeg (with libx264) and flac; `cargo xtask test` installs them.
#![cfg(feature = "legacy-audio")]

mod support;

use std::path::Path;
use std::process::Command;

use flashless_core::codec::flac::encoder::StreamParams;
use flashless_core::flv::{FlvReader, Item, Tag};
use flashless_core::fmp4::{Layout, RemuxEvent, Remuxer, RemuxerOptions};
use support::tools::{TempDir, tool};

/// Runs the command; its stdout. Fails on a non-zero exit or any stderr output.
fn quiet(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().expect("run tool");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.trim().is_empty(),
        "{cmd:?}: status {}, stderr: {err}",
        out.status
    );
    out.stdout
}

/// The first audio stream of `file` as interleaved s16le samples, via ffmpeg.
fn ffmpeg_s16(file: &Path) -> Vec<i16> {
    let raw = quiet(
        tool("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(file)
            .args(["-map", "0:a:0", "-f", "s16le", "-"]),
    );
    raw.chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// A signal that exercises every subframe type: a 1 kHz tone, a constant
/// stretch, noise, and full-scale steps.
fn signal(n: usize, channels: usize, bits: u32, rate: f64) -> Vec<i32> {
    let max = (1i32 << (bits - 1)) - 1;
    let mut seed = 7u32;
    (0..n * channels)
        .map(|i| {
            let t = (i / channels) as f64;
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let noise = (seed >> 16) as i32 % (max / 8 + 1);
            match (i / channels / 500) % 4 {
                0 => {
                    ((t * 1000.0 * std::f64::consts::TAU / rate).sin() * f64::from(max) * 0.8)
                        as i32
                }
                1 => 3,
                2 => noise,
                _ => {
                    if i % 3 == 0 {
                        max
                    } else {
                        -max - 1
                    }
                }
            }
        })
        .collect()
}

#[test]
fn flac_frames_decode_to_the_samples_put_in() {
    let dir = TempDir::new("frames");
    let cases = [(8000, 1, 16), (44100, 2, 16), (5512, 1, 8), (11025, 2, 8)];
    for (rate, channels, bits) in cases {
        let params = StreamParams {
            sample_rate: rate,
            channels,
            bits_per_sample: bits,
        };
        let ch = usize::from(channels);
        let input = signal(9000, ch, u32::from(bits), f64::from(rate));
        // Frames of awkward sizes, as tags come.
        let mut file = params.stream_header(u16::MAX);
        let mut at = 0;
        for size in [160usize, 1, 17, 4096, 2, 333].iter().cycle() {
            if at == input.len() {
                break;
            }
            let end = (at + size * ch).min(input.len());
            file.extend(params.frame(&input[at..end]).expect("a frame"));
            at = end;
        }
        let path = dir.path(&format!("{rate}-{channels}-{bits}.flac"));
        std::fs::write(&path, &file).unwrap();
        // flac warns that the MD5 is unset (it is, for a live stream); errors fail it.
        let test = tool("flac").args(["-t", "-s"]).arg(&path).output().unwrap();
        assert!(
            test.status.success(),
            "flac -t: {}",
            String::from_utf8_lossy(&test.stderr)
        );
        let decoded = ffmpeg_s16(&path);
        let expected: Vec<i16> = input
            .iter()
            .map(|&v| (v << (16 - u32::from(bits))) as i16)
            .collect();
        assert_eq!(
            decoded.len(),
            expected.len(),
            "{rate} Hz {channels} ch {bits} bit"
        );
        let first_bad = decoded.iter().zip(&expected).position(|(a, b)| a != b);
        assert_eq!(first_bad, None, "{rate} Hz {channels} ch {bits} bit");
    }
}

fn read_tags(path: &Path) -> Vec<Tag> {
    let mut reader = FlvReader::new();
    reader.feed(&std::fs::read(path).expect("read flv"));
    let mut tags = Vec::new();
    while let Some(item) = reader.poll_item().expect("valid flv") {
        if let Item::Tag(t) = item {
            tags.push(t);
        }
    }
    tags
}

/// Muxed remux of `tags` to one file; the audio init's codecs string.
fn remux(tags: &[Tag], out: &Path) -> String {
    let mut r = Remuxer::new(RemuxerOptions {
        layout: Layout::Muxed,
        ..Default::default()
    });
    let mut file = Vec::new();
    let mut mime = String::new();
    let mut sink = |r: &mut Remuxer| {
        while let Some(e) = r.poll_event() {
            match e {
                RemuxEvent::Init { data, mime: m, .. } => {
                    mime = m;
                    file.extend_from_slice(&data);
                }
                RemuxEvent::Fragment { data, .. } => file.extend_from_slice(&data),
                RemuxEvent::Error { message, .. } => panic!("remux error: {message}"),
                RemuxEvent::Unsupported { codec, .. } => panic!("unsupported: {codec}"),
                _ => {}
            }
        }
    };
    for t in tags {
        r.feed(t);
        sink(&mut r);
    }
    r.flush();
    sink(&mut r);
    std::fs::write(out, file).expect("write mp4");
    mime
}

#[test]
fn ffmpeg_legacy_flv_remuxes_to_the_same_audio() {
    let dir = TempDir::new("remux");
    let codecs = [
        ("pcm_alaw", "8000", "1"),
        ("pcm_mulaw", "8000", "1"),
        ("pcm_s16le", "44100", "2"),
        ("pcm_u8", "11025", "1"),
        ("adpcm_swf", "22050", "1"),
        ("adpcm_swf", "44100", "2"),
    ];
    for (codec, rate, channels) in codecs {
        let flv = dir.path(&format!("{codec}-{channels}.flv"));
        quiet(
            tool("ffmpeg")
                .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
                .arg("testsrc=size=160x120:rate=25")
                .args(["-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=44100"])
                .args(["-t", "2", "-c:v", "libx264", "-g", "25", "-c:a", codec])
                .args(["-ar", rate, "-ac", channels])
                .arg(&flv),
        );
        let mp4 = dir.path(&format!("{codec}-{channels}.mp4"));
        let mime = remux(&read_tags(&flv), &mp4);
        assert!(mime.ends_with(", flac\""), "{codec}: {mime}");
        quiet(
            tool("ffmpeg")
                .args(["-v", "error", "-i"])
                .arg(&mp4)
                .args(["-f", "null", "-"]),
        );
        let ours = ffmpeg_s16(&mp4);
        let source = ffmpeg_s16(&flv);
        assert_eq!(ours.len(), source.len(), "{codec}: sample count");
        let first_bad = ours.iter().zip(&source).position(|(a, b)| a != b);
        assert_eq!(first_bad, None, "{codec}: first differing sample");
    }
}

/// An FLV with a tone and a sweep over the band (as a voice covers it) in `codec`,
/// made by ffmpeg with the extra `args`.
fn voice_flv(flv: &Path, codec: &str, args: &[&str]) {
    quiet(
        tool("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg("testsrc=size=160x120:rate=25")
            .args(["-f", "lavfi", "-i"])
            .arg("aevalsrc=0.4*sin(2*PI*440*t)+0.3*sin(2*PI*(200+900*t)*t):sample_rate=44100")
            .args(["-t", "3", "-c:v", "libx264", "-g", "25", "-c:a", codec])
            .args(args)
            .arg(flv),
    );
}

/// Remuxes `flv` and returns the signal-to-noise ratio in dB of ffmpeg's decoding
/// of ours (FLAC) against its decoding of the FLV's audio with `decoder`: the same
/// number of samples, and a source that is not near silent.
fn remuxed_snr(flv: &Path, decoder: &str, what: &str) -> f64 {
    let mp4 = flv.with_extension("mp4");
    let mime = remux(&read_tags(flv), &mp4);
    assert!(mime.ends_with(", flac\""), "{what}: {mime}");
    let ours = ffmpeg_s16(&mp4);
    let raw = quiet(
        tool("ffmpeg")
            .args(["-v", "error", "-c:a", decoder, "-i"])
            .arg(flv)
            .args(["-map", "0:a:0", "-f", "s16le", "-"]),
    );
    let source: Vec<i16> = raw
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert_eq!(ours.len(), source.len(), "{what}: sample count");
    let power = |x: &mut dyn Iterator<Item = f64>| x.map(|v| v * v).sum::<f64>();
    let signal = power(&mut source.iter().map(|&s| f64::from(s)));
    let error = power(
        &mut ours
            .iter()
            .zip(&source)
            .map(|(&a, &b)| f64::from(a) - f64::from(b)),
    );
    assert!(
        signal > 1e6 * ours.len() as f64,
        "{what}: the source is near silent"
    );
    let snr = 10.0 * (signal / error.max(1.0)).log10();
    eprintln!("{what}: SNR {snr:.1} dB over {} samples", ours.len());
    snr
}

/// Nellymoser, as ffmpeg encodes it at each of Flash's rates (formats 5 and 4 at 8
/// and 16 kHz, 6 at the others), remuxed, decodes in ffmpeg to what ffmpeg decodes
/// from the FLV: as many samples, and the same sound but for the noise that fills the
/// coefficients given no bits (random by definition), far below the signal.
#[test]
fn nellymoser_remuxes_to_what_ffmpeg_decodes() {
    let dir = TempDir::new("nellymoser");
    for rate in ["8000", "16000", "11025", "22050", "44100"] {
        let flv = dir.path(&format!("nelly-{rate}.flv"));
        voice_flv(&flv, "nellymoser", &["-ar", rate, "-ac", "1"]);
        let snr = remuxed_snr(&flv, "nellymoser", &format!("{rate} Hz"));
        assert!(snr > 40.0, "{rate} Hz: {snr:.1} dB from ffmpeg's decoding");
    }
}

/// Speex wideband at every quality libspeex encodes (each a pair of submodes of
/// the two bands: the low band's vocoder at 0 to its double codebook at 10, the
/// high band's folding to its own double codebook), one frame a tag and three,
/// remuxed, decodes in ffmpeg to what libspeex decodes from the FLV.
#[test]
fn speex_remuxes_to_what_libspeex_decodes() {
    let dir = TempDir::new("speex");
    for quality in 0..=10 {
        for frames in ["1", "3"] {
            let what = format!("quality {quality}, {frames} frame(s) a tag");
            let flv = dir.path(&format!("speex-{quality}-{frames}.flv"));
            let quality = quality.to_string();
            let args = ["-ar", "16000", "-ac", "1", "-cbr_quality", &quality];
            voice_flv(
                &flv,
                "libspeex",
                &[&args[..], &["-frames_per_packet", frames]].concat(),
            );
            let snr = remuxed_snr(&flv, "libspeex", &what);
            assert!(snr > 60.0, "{what}: {snr:.1} dB from libspeex's decoding");
        }
    }
}

fn audio_tag(ts: u32, first: u8, body: Vec<u8>) -> Tag {
    let mut data = vec![first];
    data.extend(body);
    Tag {
        tag_type: flashless_core::flv::TagType::Audio,
        timestamp: ts,
        data: bytes::Bytes::from(data),
    }
}

#[test]
fn a_format_change_is_a_new_init_and_holes_are_filled_with_silence() {
    let dir = TempDir::new("changes");
    let mut r = Remuxer::new(RemuxerOptions::default());
    // G.711 µ-law, 20 ms tags (160 bytes); a 300 ms hole; then 16-bit stereo
    // PCM at 44.1 kHz, 20 ms tags (882 sample frames).
    let mut tags: Vec<Tag> = (0..10)
        .map(|i| audio_tag(i * 20, 0x82, (0..160).map(|b| b as u8).collect()))
        .collect();
    tags.extend((0..5).map(|i| audio_tag(500 + i * 20, 0x82, vec![0x55; 160])));
    tags.extend((0..5).map(|i| audio_tag(600 + i * 20, 0x3f, vec![0x11; 882 * 4])));
    let mut inits = Vec::new();
    let mut file = Vec::new();
    for t in &tags {
        r.feed(t);
        while let Some(e) = r.poll_event() {
            match e {
                RemuxEvent::Init { info, data, .. } => {
                    inits.push((info.codec, info.sample_rate, info.channels));
                    file = data.to_vec();
                }
                RemuxEvent::Fragment { data, .. } => file.extend_from_slice(&data),
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(inits, [("flac".into(), 8000, 1), ("flac".into(), 44100, 2)]);
    let stats = r.stats();
    assert_eq!(stats.gaps_filled, 1);
    assert!((290..=300).contains(&stats.gap_ms_filled), "{stats:?}");
    // The last configuration's init and fragments, as one file, decode.
    let path = dir.path("pcm.mp4");
    std::fs::write(&path, file).unwrap();
    assert_eq!(ffmpeg_s16(&path).len(), 5 * 882 * 2);
}
