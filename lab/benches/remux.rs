//! FLV → fragmented MP4 throughput of the native remuxer: the reference for the
//! browser figures of `cargo xtask bench remux`, which runs this on its recordings
//! and reads criterion's estimates.
//!
//! The recordings: the paths in `FLASHLESS_REMUX_FLV` (separated as in `PATH`), or
//! else every `target/bench/remux-*.flv` (made by `cargo xtask bench remux`). Each is
//! read into memory, then fed in 64 KiB chunks to the FLV reader and the remuxer with
//! the options the browser player uses, as the wasm `Remuxer` does.

use std::path::{Path, PathBuf};

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use flashless_core::flv::{FlvReader, Item};
use flashless_core::fmp4::{RemuxEvent, Remuxer, RemuxerOptions};

/// What a network read typically hands over; the browser benchmark cuts the same.
const CHUNK: usize = 64 * 1024;

/// What came out of one pass: checked once before timing, so a remuxer that drops
/// everything cannot look fast.
#[derive(Debug, Default)]
struct Output {
    bytes: u64,
    video_samples: u64,
    audio_samples: u64,
    errors: u64,
}

fn remux(flv: &[u8]) -> Output {
    let mut reader = FlvReader::new();
    let mut remuxer = Remuxer::new(RemuxerOptions::default());
    let mut out = Output::default();
    for chunk in flv.chunks(CHUNK) {
        reader.feed(chunk);
        loop {
            match reader.poll_item() {
                Ok(Some(Item::Tag(tag))) => {
                    remuxer.feed(&tag);
                    drain(&mut remuxer, &mut out);
                }
                Ok(Some(Item::Header(_))) => {}
                Ok(None) => break,
                Err(e) => panic!("the recording is not FLV: {e}"),
            }
        }
    }
    remuxer.flush();
    drain(&mut remuxer, &mut out);
    out
}

fn drain(remuxer: &mut Remuxer, out: &mut Output) {
    while let Some(ev) = remuxer.poll_event() {
        match ev {
            RemuxEvent::Init { data, .. } => out.bytes += data.len() as u64,
            RemuxEvent::Fragment {
                data,
                samples,
                track,
                ..
            } => {
                out.bytes += data.len() as u64;
                match track {
                    Some(flashless_core::fmp4::Track::Video) => {
                        out.video_samples += u64::from(samples)
                    }
                    _ => out.audio_samples += u64::from(samples),
                }
            }
            RemuxEvent::Error { .. } | RemuxEvent::Unsupported { .. } => out.errors += 1,
            _ => {}
        }
    }
}

fn recordings() -> Vec<PathBuf> {
    if let Some(list) = std::env::var_os("FLASHLESS_REMUX_FLV") {
        return std::env::split_paths(&list).collect();
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("remux-") && name.ends_with(".flv")
        })
        .collect();
    found.sort();
    if found.is_empty() {
        eprintln!(
            "no recordings in {}: `cargo xtask bench remux` makes them",
            dir.display()
        );
    }
    found
}

/// `target/bench/remux-4mbps-1280x720-180s.flv` → `4mbps-1280x720-180s`: the name
/// criterion files the estimates under, and the one the xtask looks for.
fn name(path: &Path) -> String {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("flv");
    stem.strip_prefix("remux-").unwrap_or(stem).to_owned()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("remux");
    // One pass over a recording takes from milliseconds to a second: one pass a sample.
    group.sampling_mode(SamplingMode::Flat);
    for path in recordings() {
        let flv =
            std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let out = remux(&flv);
        assert!(
            out.errors == 0 && out.video_samples > 0 && out.bytes > 0,
            "{}: the remuxer put out {out:?}",
            path.display()
        );
        group.throughput(Throughput::Bytes(flv.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name(&path)), &flv, |b, flv| {
            b.iter(|| remux(std::hint::black_box(flv)))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
