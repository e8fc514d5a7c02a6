//! What a source may send the gateway, a publisher and a pull's upstream alike: its
//! media no faster than real time past a burst of [`BURST_MS`] (`Pace`), and at most
//! [`MESSAGES_PER_S`] media and data messages a second past [`MESSAGES_BURST`]. A source
//! past either is held back (not read), so TCP slows it down: what it sends would
//! otherwise reach every viewer that much faster.

use std::time::Instant;

use flashless_core::flv::Tag;
use flashless_core::stream::{Bucket, Pace, Role};

/// How far ahead of real time a source may send before it is read at real time: a
/// reconnect's backlog, or the first GOP of a server that caches one, passes at once;
/// a publisher that goes on sending faster (ffmpeg without `-re`), or an upstream
/// (an HTTP-FLV origin serving a file as fast as the link goes), waits.
pub const BURST_MS: u32 = 10_000;

/// Media and data messages a source may send a second, past a burst of
/// [`MESSAGES_BURST`]: an encoder at 240 fps with its sound and data sends a few
/// hundred. Each message goes to every viewer, so millions of tiny ones (frozen
/// timestamps and few bytes pass pacing and the bit-rate cap) would keep the cores busy.
pub const MESSAGES_PER_S: u64 = 2_000;
/// Ten seconds of [`MESSAGES_PER_S`]: a reconnect's backlog passes at once.
pub const MESSAGES_BURST: u64 = 20_000;

/// A limit a source was found past, which the caller says once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    RealTime,
    MessageRate,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::RealTime => f.write_str("faster than real time"),
            Limit::MessageRate => write!(f, "over {MESSAGES_PER_S} messages a second"),
        }
    }
}

#[derive(Debug)]
pub struct Intake {
    pace: Pace,
    messages: Bucket,
    started: Instant,
    /// When (ms from `started`) the media read so far is due by `pace`: reading waits
    /// until then, once, not again at every read of a frame that spans many.
    due_ms: u64,
    /// The limits already said.
    said: [bool; 2],
}

impl Default for Intake {
    fn default() -> Self {
        Intake {
            pace: Pace::new(BURST_MS),
            messages: Bucket::new(MESSAGES_PER_S, MESSAGES_BURST),
            started: Instant::now(),
            due_ms: 0,
            said: [false; 2],
        }
    }
}

impl Intake {
    /// Counts a tag read; a limit it is the first to go past, for the caller to say.
    pub fn tag(&mut self, tag: &Tag) -> Option<Limit> {
        let now = self.now_ms();
        self.messages.fill(now);
        self.messages.take(1);
        let mut ahead = false;
        if Role::of(tag).is_coded() {
            let wait = self.pace.frame(tag.timestamp, now);
            self.due_ms = now.saturating_add(wait);
            ahead = wait > 0;
        }
        let flooding = self.messages.wait_ms() > 0;
        [(Limit::RealTime, ahead), (Limit::MessageRate, flooding)]
            .into_iter()
            .find(|&(limit, past)| past && !std::mem::replace(&mut self.said[limit as usize], true))
            .map(|(limit, _)| limit)
    }

    /// How long to wait (ms) before reading more of the source.
    pub fn wait_ms(&self) -> u64 {
        self.due_ms
            .saturating_sub(self.now_ms())
            .max(self.messages.wait_ms())
    }

    /// Ms since the source began.
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashless_core::flv::TagType;

    fn frame(timestamp: u32) -> Tag {
        Tag {
            tag_type: TagType::Video,
            timestamp,
            data: bytes::Bytes::from_static(&[0x27, 0x01, 0, 0, 0, 0]),
        }
    }

    #[test]
    fn each_limit_is_said_once_and_held_to() {
        let mut intake = Intake::default();
        // 10 s of media at once pass (a frame every 40 ms); a second more is ahead of
        // real time, said at its first frame past the burst, once.
        let said: Vec<(u32, Limit)> = (0..=(BURST_MS + 1000) / 40)
            .filter_map(|i| intake.tag(&frame(i * 40)).map(|l| (i * 40, l)))
            .collect();
        assert_eq!(said.len(), 1, "{said:?}");
        assert_eq!(said[0].1, Limit::RealTime);
        assert!((BURST_MS..BURST_MS + 300).contains(&said[0].0), "{said:?}");
        assert!(
            (700..=1000).contains(&intake.wait_ms()),
            "{}",
            intake.wait_ms()
        );
        // Frozen timestamps pass the pace, not the message rate.
        let mut intake = Intake::default();
        let past = (0..MESSAGES_BURST + 5000)
            .filter_map(|_| intake.tag(&frame(7)))
            .collect::<Vec<_>>();
        assert_eq!(past, [Limit::MessageRate]);
        assert!(intake.wait_ms() > 0, "{}", intake.wait_ms());
    }
}
