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

pub use case::{CASES, Case};
use publish::Publisher;
use rules::Out;

/// Publishes `case` to `url` until a source ends or the server goes away.
pub fn run(case: &Case, url: &str) -> Result<()> {
    let (tx, rx) = mpsc::sync_channel(256);
    let mut sources = Vec::new();
    for (i, spec) in case.sources().iter().enumerate() {
        sources.push(source::spawn(spec, i, tx.clone())?);
    }
    drop(tx);
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
    // The sources' guards stop ffmpeg when dropped.
    drop(sources);
    Ok(())
}
