//! Legacy audio through the gateway (issue #19): ffmpeg publishes H.264 with
//! G.711 A-law and µ-law (8 kHz mono, as IP cameras send), 16-bit PCM and
//! Flash ADPCM; `flashless dump -o x.mp4` writes it with the audio as FLAC,
//! which ffmpeg decodes without a word, and the sound is the 1 kHz tone.

mod peers;

use std::process::Command;

use peers::*;

const CODECS: [(&str, &str, &str); 4] = [
    ("pcm_alaw", "8000", "1"),
    ("pcm_mulaw", "8000", "1"),
    ("pcm_s16le", "44100", "2"),
    ("adpcm_swf", "22050", "1"),
];

/// Rate everything is resampled to for the tone check.
const RATE: f64 = 8000.0;

#[test]
fn dump_to_mp4_carries_legacy_audio_as_flac_that_is_the_tone() {
    let gw = Gateway::start(&["--no-demo"]);
    let dir = TempDir::new("legacy-audio");
    for (codec, rate, channels) in CODECS {
        let url = gw.rtmp_url(codec);
        let _ffmpeg = ffmpeg_publish(&url, &["-c:a", codec, "-ar", rate, "-ac", channels]);
        gw.wait_live(codec);
        let out = dir.path(&format!("{codec}.mp4"));
        let dump = output_of(
            flashless()
                .args(["dump", &url, "-q", "-o"])
                .arg(&out)
                .args(["--duration", "3"]),
            "flashless dump",
        );
        assert!(
            dump.status.success(),
            "{codec}: dump failed: {}",
            String::from_utf8_lossy(&dump.stderr)
        );
        let streams = ffprobe_streams(&out.to_string_lossy());
        assert!(
            streams.contains("h264") && streams.contains("flac"),
            "{codec}: {streams}"
        );
        // Decodes without an error or warning.
        let decode = output_of(
            Command::new("ffmpeg")
                .args(["-v", "warning", "-i"])
                .arg(&out)
                .args(["-f", "null", "-"]),
            "ffmpeg",
        );
        let err = String::from_utf8_lossy(&decode.stderr);
        assert!(
            decode.status.success() && err.trim().is_empty(),
            "{codec}: {err}"
        );
        let tone = tone_fraction(&out);
        assert!(
            tone > 0.9,
            "{codec}: the 1 kHz share of the sound is {tone}"
        );
    }
}

/// The share of the audio's energy (after its first half second) at 1 kHz, by
/// the Goertzel algorithm on ffmpeg's decode, resampled to mono at [`RATE`].
fn tone_fraction(file: &std::path::Path) -> f64 {
    let out = output_of(
        Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(file)
            .args(["-map", "0:a", "-ac", "1", "-ar", "8000", "-f", "s16le", "-"]),
        "ffmpeg",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let x: Vec<f64> = out
        .stdout
        .chunks_exact(2)
        .map(|b| f64::from(i16::from_le_bytes([b[0], b[1]])))
        .skip(RATE as usize / 2)
        .collect();
    assert!(x.len() > RATE as usize, "only {} samples", x.len());
    let w = std::f64::consts::TAU * 1000.0 / RATE;
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in &x {
        let s = v + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
    let energy: f64 = x.iter().map(|v| v * v).sum();
    // A pure tone of amplitude A: power (A·N/2)², energy A²·N/2.
    2.0 * power / (x.len() as f64 * energy).max(1.0)
}
