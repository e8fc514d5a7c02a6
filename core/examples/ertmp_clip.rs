//! Writes an Enhanced RTMP FLV clip (testsrc and a sine, encoded by ffmpeg) for
//! the browser tests, which play it through the gateway:
//! `cargo run -p flashless-core --example ertmp_clip -- <hevc|av1|vp9|none> <opus|flac|none> <seconds> <out.flv>`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::ExitCode;

use bytes::BytesMut;
use flashless_core::flv;
use support::{Audio, Video, ertmp_clip};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [video, audio, seconds, out] = args.as_slice() else {
        eprintln!("usage: ertmp_clip <hevc|av1|vp9|none> <opus|flac|none> <seconds> <out.flv>");
        return ExitCode::FAILURE;
    };
    let video = match video.as_str() {
        "hevc" => Video::Hevc,
        "av1" => Video::Av1,
        "vp9" => Video::Vp9,
        "none" => Video::None,
        other => return fail(&format!("unknown video codec `{other}`")),
    };
    let audio = match audio.as_str() {
        "opus" => Audio::Opus,
        "flac" => Audio::Flac,
        "none" => Audio::None,
        other => return fail(&format!("unknown audio codec `{other}`")),
    };
    let Ok(seconds) = seconds.parse::<f64>() else {
        return fail(&format!("seconds must be a number, got `{seconds}`"));
    };
    let clip = ertmp_clip(video, audio, seconds);
    let mut file = BytesMut::new();
    let header = flv::Header {
        has_audio: audio != Audio::None,
        has_video: video != Video::None,
    };
    flv::write_header(&header, &mut file);
    for tag in &clip.tags {
        flv::write_tag(tag, &mut file);
    }
    match std::fs::write(out, &file) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("writing {out}: {e}")),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("ertmp_clip: {message}");
    ExitCode::FAILURE
}
