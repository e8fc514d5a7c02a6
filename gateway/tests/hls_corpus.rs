//! The corpus of nasty streams (lab's mangler) through HLS and into recordings, every
//! case at once on one gateway: in a binary of its own, which `cargo xtask test` runs
//! alone, as its 27 publishers (8 ffmpeg encodes, shared: `mangle::run_all`) take a core.

mod peers;

use std::time::{Duration, Instant};

use flashless_core::hls::check::Reloads;
use flashless_lab::mangle::{CASES, Case};
use peers::*;

/// What [`corpus_case_over_hls`] saw of one case.
struct Watched {
    reloads: usize,
    /// Segments that came out meanwhile, all read whole.
    segments: usize,
    /// Their media, in seconds.
    media_s: f64,
    /// How far the playlist's end (its last segment's date and length, and the open
    /// segment's parts) was behind the wall clock, at worst; and ahead of it (media
    /// dated after it was live).
    worst_lag_s: f64,
    worst_lead_s: f64,
    /// The segments read, joined as a player's buffer holds them: a run for each init
    /// (and after each discontinuity), that init first.
    runs: Vec<Vec<u8>>,
}

/// `case` published by the mangler and played over HLS for `watch`, as an LL-HLS
/// player that polls: each reload checked against the one before, each new segment
/// read, how far behind the clock the playlist ends.
fn corpus_case_over_hls(gw: &Gateway, case: &Case, watch: Duration) -> Result<Watched, String> {
    let name = case.name;
    let path = format!("/live/{name}/index.m3u8");
    let mut reloads = Reloads::default();
    let mut read = std::collections::BTreeSet::new();
    let mut seen = Watched {
        reloads: 0,
        segments: 0,
        media_s: 0.0,
        worst_lag_s: 0.0,
        worst_lead_s: 0.0,
        runs: Vec::new(),
    };
    let mut run_map = None;
    let mut started = Instant::now();
    while started.elapsed() < watch {
        let (status, _, body) = raw_request(gw.http, "GET", &path, "");
        let text = String::from_utf8_lossy(&body).into_owned();
        if status != 200 {
            return Err(format!("{path}: {status} {text}"));
        }
        let p = reloads
            .reload(&text)
            .map_err(|bad| format!("{text}\n{bad:#?}"))?;
        let (Some(last), Some(target)) = (p.segments.last(), p.target_duration) else {
            return Err(format!("no segment, or no target:\n{text}"));
        };
        let end_ms = last.program_ms.ok_or("an undated segment")? as f64
            + 1000.0 * (last.duration + p.open_parts.iter().map(|x| x.duration).sum::<f64>());
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_millis() as f64);
        // Not the first: it may list a start from before the last stall.
        if seen.reloads > 0 {
            seen.worst_lag_s = seen.worst_lag_s.max((now_ms - end_ms) / 1000.0);
        }
        seen.worst_lead_s = seen.worst_lead_s.max((end_ms - now_ms) / 1000.0);
        for s in &p.segments {
            if s.duration > f64::from(target) + 0.5 {
                return Err(format!("segment {} lasts {} s: {text}", s.msn, s.duration));
            }
            // What came out since the first reload, read as a player reads it.
            if read.insert(s.msn) && seen.reloads > 0 {
                let uri = format!("/live/{name}/{}", s.uri);
                let (status, _, media) = raw_request(gw.http, "GET", &uri, "");
                if status != 200 || media.get(4..8) != Some(b"moof".as_slice()) {
                    return Err(format!("{}: {status}, {} bytes", s.uri, media.len()));
                }
                if s.discontinuity || run_map != s.map || seen.runs.is_empty() {
                    let map = s.map.as_deref().ok_or("a segment without EXT-X-MAP")?;
                    let (status, _, init) =
                        raw_request(gw.http, "GET", &format!("/live/{name}/{map}"), "");
                    if status != 200 {
                        return Err(format!("{map}: {status}"));
                    }
                    seen.runs.push(init);
                    run_map = s.map.clone();
                }
                if let Some(run) = seen.runs.last_mut() {
                    run.extend_from_slice(&media);
                }
                seen.segments += 1;
                seen.media_s += s.duration;
            }
        }
        if seen.reloads == 0 {
            // The watch starts once the first playlist came: it waits for the first
            // segment, which a 10 s GOP's producer, started by that request, ends at its
            // second keyframe; the next segment then ended up to 20 s after the request,
            // a photo finish with the watch's end (`gop-10s`: no segment seen, once).
            started = Instant::now();
        }
        seen.reloads += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(seen)
}

/// A case's recordings (its gateway stopped): each file decodes with no error, and
/// together they hold most of what was published.
fn recorded_whole(dir: &std::path::Path) -> Result<(), String> {
    let files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| Some(e.ok()?.path()))
        .collect();
    let mut total_s = 0.0;
    for file in &files {
        let errors = decode_errors(file);
        if !errors.trim().is_empty() {
            return Err(format!("{}: {errors}", file.display()));
        }
        total_s += ffprobe(file).duration;
    }
    eprintln!("{}: {} files, {total_s:.1} s", dir.display(), files.len());
    if files.len() < 2 || total_s < 18.0 {
        return Err(format!("{} files, {total_s:.1} s", files.len()));
    }
    Ok(())
}

/// What failed of `case`: what its watcher saw (`result`), the segments it read (joined
/// into files in `dir`) and its recordings (under `root`), each decoded.
fn judged(
    case: &Case,
    result: &Result<Watched, String>,
    dir: &TempDir,
    root: &std::path::Path,
) -> Vec<String> {
    let mut failed = Vec::new();
    match result {
        Ok(w) => {
            eprintln!(
                "{}: {} reloads, {} segments, {:.1} s of media, worst lag {:.2} s, lead {:.2} s",
                case.name, w.reloads, w.segments, w.media_s, w.worst_lag_s, w.worst_lead_s
            );
            // A 10 s GOP's segments last 10 s: one comes out in the 20 s watched.
            let least_media = if case.name == "gop-10s" { 8.0 } else { 15.0 };
            // A source's stall is the playlist's too (a video hole is not: its
            // sound's parts go on, with pictures that repeat the last one).
            let most_lag = match case.name {
                "stall-2s-burst" => 3.5,
                // Under a second here, on two cores; room for a slower machine.
                _ => 2.5,
            };
            if w.media_s < least_media || w.worst_lag_s > most_lag {
                failed.push(format!(
                    "{}: {:.1} s of media (at least {least_media}), worst lag {:.2} s (at most {most_lag})",
                    case.name, w.media_s, w.worst_lag_s
                ));
            }
            // Dates run ahead of the clock by up to a second before they are set
            // from it again (a source faster than real time); the frames held for
            // a late track's first init, dated when they came out, ran 2 s ahead.
            if w.worst_lead_s > 1.5 {
                failed.push(format!(
                    "{}: dated {:.2} s ahead",
                    case.name, w.worst_lead_s
                ));
            }
            for (i, run) in w.runs.iter().enumerate() {
                let file = dir.path(&format!("{}-hls-{i}.mp4", case.name));
                std::fs::write(&file, run).expect("writing the segments read");
                let errors = decode_errors(&file);
                if !errors.trim().is_empty() {
                    failed.push(format!("{} over HLS, run {i}: {errors}", case.name));
                }
            }
        }
        Err(why) => failed.push(format!("{}: {why}", case.name)),
    }
    if let Err(why) = recorded_whole(&root.join(case.name)) {
        failed.push(format!("{} recorded: {why}", case.name));
    }
    failed
}

/// Every case of the corpus of nasty streams (holes, stalls, bunches, timestamps that
/// jump, wrap or step back, restarts, reconnects, changes of resolution and of sample
/// rate, B-frames, 1 and 60 fps, a 10 s GOP), published at once by lab's mangler and
/// polled over HLS for 20 s: every reload passes the RFC 8216 checker against the one
/// before, every new segment is served and no longer than the target duration, the
/// media comes out at the clock's pace and the playlist's end is never far behind the
/// clock, nor dated far ahead of it; the segments read, joined as a player joins them, decode with no error, and so
/// do each case's recordings.
#[test]
fn the_corpus_of_nasty_streams_plays_over_hls_and_is_recorded_whole() {
    const WATCH: Duration = Duration::from_secs(20);
    let dir = TempDir::new("hls-corpus");
    let root = dir.path("recordings");
    // Files of 6 s, so that each case's 20 s makes several.
    let file = config(
        &dir,
        &format!("[record]\ndir = {root:?}\nmatch = [\"*\"]\nsegment = \"6s\"\n"),
    );
    // 1 s segments of 0.25 s parts, as the other HLS tests: many segments in little time.
    let gw = Gateway::start(&[
        "--no-demo",
        "--hls-segment",
        "1",
        "--hls-part",
        "0.25",
        "--config",
        &file,
    ]);
    // Until the gateway goes, at the end: the publishes then fail.
    let port = gw.rtmp;
    let publishers = std::thread::spawn(move || {
        let cases: Vec<&Case> = CASES.iter().collect();
        flashless_lab::mangle::run_all(&cases, |case| {
            format!("rtmp://127.0.0.1:{port}/live/{}", case.name)
        })
    });
    let results: Vec<(&Case, Result<Watched, String>)> = std::thread::scope(|s| {
        let watchers: Vec<_> = CASES
            .iter()
            .map(|case| {
                let gw = &gw;
                s.spawn(move || {
                    gw.wait_live(case.name);
                    (case, corpus_case_over_hls(gw, case, WATCH))
                })
            })
            .collect();
        watchers
            .into_iter()
            .map(|w| w.join().expect("a watcher"))
            .collect()
    });
    drop(gw);
    let _ = publishers.join();
    // Two cases at a time: each check is an ffmpeg decode or an ffprobe, a core each.
    let failed: Vec<String> = std::thread::scope(|s| {
        let checkers: Vec<_> = (0..2)
            .map(|first| {
                let (dir, root, results) = (&dir, &root, &results);
                s.spawn(move || {
                    (results.iter().skip(first).step_by(2))
                        .flat_map(|(case, result)| judged(case, result, dir, root))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        (checkers.into_iter())
            .flat_map(|c| c.join().expect("a checker"))
            .collect()
    });
    assert!(failed.is_empty(), "{failed:#?}");
}
