//! The stream mangler (binary `mangle`): a live FLV stream from ffmpeg, rewritten per
//! case of the corpus of nasty streams, published to an RTMP server as a real publish.
//!
//! - [`case`]: the corpus, each case a source and a rewrite.
//! - [`rules`]: the rewrites, pure functions over tags.
//! - [`source`]: ffmpeg encoding a test pattern and a sine into FLV on a pipe.
//! - [`publish`]: an RTMP publisher driving the core's `ClientSession` over TCP.
//!
//! The corpus is played by the browser tests (`e2e/corpus.test.mjs`) and compared
//! with mpegts.js and flv.js by `cargo xtask bench corpus`.

pub mod case;
pub mod publish;
pub mod rules;
pub mod source;

#[cfg(test)]
mod tests;

use std::sync::mpsc;

use anyhow::{Context, Result};
use flashless_core::flv::Tag;

pub use case::{CASES, Case};
use publish::Publisher;
use rules::Out;
use source::Spec;

/// Tags a case's rewrite may hold back before its sources wait: ~8 s of a 25 fps stream
/// with sound, more than a reconnect takes.
const BACKLOG: usize = 1024;

/// Publishes `case` to `url` until a source ends or the server goes away.
pub fn run(case: &Case, url: &str) -> Result<()> {
    let mut results = run_all(&[case], |_| url.to_owned());
    results.pop().unwrap_or(Ok(()))
}

/// Publishes every case of `cases` at once, each to `url(case)`, until its sources end
/// or the server goes away; each case's result, in order. One ffmpeg per distinct source,
/// its tags shared by every case that reads it: the whole corpus encodes 8 streams, not
/// 29, which two cores keep up with in real time.
pub fn run_all(cases: &[&Case], url: impl Fn(&Case) -> String) -> Vec<Result<()>> {
    // For each distinct source: the cases that read it, each with its index there.
    let mut readers: Vec<(Spec, Vec<(usize, Reader)>)> = Vec::new();
    let mut inputs = Vec::new();
    for case in cases {
        let (tx, rx) = mpsc::sync_channel(BACKLOG);
        for (i, spec) in case.sources().into_iter().enumerate() {
            match readers.iter_mut().find(|(s, _)| *s == spec) {
                Some((_, to)) => to.push((i, tx.clone())),
                None => readers.push((spec, vec![(i, tx.clone())])),
            }
        }
        inputs.push(rx);
    }
    let sources: Result<Vec<_>> = (readers.into_iter())
        .map(|(spec, to)| source::spawn(spec, to))
        .collect();
    // Their guards stop ffmpeg when dropped, once every case is done.
    let _sources = match sources {
        Ok(guards) => guards,
        Err(e) => {
            return cases
                .iter()
                .map(|_| Err(anyhow::anyhow!("{e:#}")))
                .collect();
        }
    };
    std::thread::scope(|s| {
        let publishers: Vec<_> = (cases.iter().zip(inputs))
            .map(|(case, rx)| {
                let url = url(case);
                s.spawn(move || publish(case, &url, &rx))
            })
            .collect();
        (publishers.into_iter())
            .map(|p| {
                p.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a publisher panicked")))
            })
            .collect()
    })
}

/// A case's end of its sources: `(source index, tag)`.
type Reader = mpsc::SyncSender<(usize, Tag)>;

/// Rewrites what `rx` brings for `case` and publishes it to `url`.
fn publish(case: &Case, url: &str, rx: &mpsc::Receiver<(usize, Tag)>) -> Result<()> {
    let mut rewrite = case.rewrite();
    let mut publisher = Publisher::connect(url)?;
    let mut out = Vec::new();
    while let Ok((i, tag)) = rx.recv() {
        rewrite.apply(i, tag, &mut out);
        for item in out.drain(..) {
            match item {
                Out::Tag(tag) => publisher.send(&tag).context("publishing")?,
                Out::Reconnect => {
                    publisher.close();
                    publisher = Publisher::connect(url)?;
                }
            }
        }
    }
    publisher.close();
    Ok(())
}
