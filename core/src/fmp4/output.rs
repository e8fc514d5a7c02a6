//! Emitting: init segments (when each layout wants them) and fragments.

use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;

use super::fragment;
use super::init::{TrackConfig, init_segment, track_id};
use super::track::TrackState;
use super::{Layout, MUXED_HOLD_MS, RemuxEvent, Remuxer, Track, TrackInfo};

impl Remuxer {
    /// Emits the track's pending samples as one fragment, after its init. In the
    /// Muxed layout that may have to wait for other tracks (see the module docs)
    /// unless `force`.
    pub(super) fn emit_pending(&mut self, t: Track, force: bool) {
        if self.track_mut(t).pending.is_empty() || !self.ensure_init(t, force) {
            return;
        }
        if self.options.layout == Layout::Samples {
            return self.emit_samples(t);
        }
        let muxed = self.options.layout == Layout::Muxed;
        let sequence = if muxed {
            self.muxed_sequence += 1;
            self.muxed_sequence - 1
        } else {
            let st = self.track_mut(t);
            st.sequence += 1;
            st.sequence - 1
        };
        let st = self.track_mut(t);
        let timescale = f64::from(st.timescale());
        let samples = st.take_pending();
        let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
            return;
        };
        let data = fragment::fragment(sequence, track_id(t), &samples, t == Track::Video);
        let n = samples.len() as u32;
        self.stats.fragments_out += 1;
        self.stats.samples_out += u64::from(n);
        self.stats.bytes_out += data.len() as u64;
        self.events.push_back(RemuxEvent::Fragment {
            track: Some(t),
            start_ms: first.dts as f64 * 1000.0 / timescale,
            end_ms: (last.dts + u64::from(last.duration)) as f64 * 1000.0 / timescale,
            keyframe: first.keyframe,
            samples: n,
            data,
        });
    }

    /// Makes sure the init covering track `t` went out; false if it must wait.
    fn ensure_init(&mut self, t: Track, force: bool) -> bool {
        if self.options.layout != Layout::Muxed {
            self.emit_init(t);
            return true;
        }
        let sent = [&self.video, &self.audio]
            .iter()
            .all(|s| s.config.is_none() || s.init_sent);
        if sent {
            return true;
        }
        let ready = !self.missing_tracks().contains(&true);
        let wait_ms = self.options.muxed_wait_ms.unwrap_or(MUXED_HOLD_MS);
        let held = self.track_mut(t);
        let waited = held.pending_span_ms(held.pending.last().map_or(0, |s| s.dts)) >= wait_ms
            || held.pending_full();
        if !(ready || waited || force) {
            return false;
        }
        let mut tracks = Vec::new();
        for st in [&self.video, &self.audio] {
            if let Some(c) = &st.config {
                tracks.push((st.track, c));
            }
        }
        let mut info = TrackInfo::default();
        for (t, c) in &tracks {
            match t {
                Track::Video => {
                    (info.width, info.height) = (c.info.width, c.info.height);
                    info.timescale = c.timescale;
                }
                Track::Audio => {
                    (info.sample_rate, info.channels) = (c.info.sample_rate, c.info.channels)
                }
            }
        }
        info.codec = tracks
            .iter()
            .map(|(_, c)| c.info.codec.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let event = RemuxEvent::Init {
            track: None,
            mime: mime(&tracks),
            data: Bytes::from(init_segment(&tracks)),
            info,
        };
        self.events.push_back(event);
        self.video.init_sent = self.video.config.is_some();
        self.audio.init_sent = self.audio.config.is_some();
        // Samples the other track held while waiting follow the init, earliest first.
        for other in self.tracks_by_pending_time() {
            if other != t {
                self.emit_pending(other, false);
            }
        }
        true
    }

    /// Per track (video, audio): announced (by a tag or by `onMetaData`) and neither
    /// configured nor found unsupported.
    fn missing_tracks(&self) -> [bool; 2] {
        let mut missing = [&self.video, &self.audio].map(|s| s.config.is_none() && !s.unsupported);
        for (m, expected) in missing.iter_mut().zip(self.expect) {
            *m &= expected;
        }
        missing
    }

    /// Muxed layout: the tracks (video, audio) the first init is still to wait for (see
    /// the module docs), so that a caller may hold the frames itself.
    pub fn awaited_tracks(&self) -> [bool; 2] {
        let first =
            self.options.layout == Layout::Muxed && !self.video.init_sent && !self.audio.init_sent;
        self.missing_tracks().map(|m| m && first)
    }

    /// Muxed layout: from now on an init goes out without a track still missing, at the
    /// next fragment (a caller that held the frames itself has waited long enough).
    pub fn end_track_wait(&mut self) {
        self.options.muxed_wait_ms = Some(0);
    }

    /// Samples layout: each pending sample as an event of its own, after the
    /// track's configuration.
    fn emit_samples(&mut self, t: Track) {
        self.emit_init(t);
        let st = self.track_mut(t);
        let timescale = u128::from(st.timescale().max(1));
        let samples = st.take_pending();
        let us = |ticks: u64| (u128::from(ticks) * 1_000_000 / timescale) as i64;
        for s in samples {
            let dts_us = us(s.dts);
            let pts_us = us(s.dts.saturating_add_signed(i64::from(s.cts_offset)));
            self.stats.fragments_out += 1;
            self.stats.samples_out += 1;
            self.stats.bytes_out += s.data.len() as u64;
            self.events.push_back(RemuxEvent::Sample {
                track: t,
                dts_us,
                pts_us,
                duration_us: us(s.dts + u64::from(s.duration)) - dts_us,
                keyframe: s.keyframe,
                data: s.data,
            });
        }
    }

    /// PerTrack and Samples layouts: the track's init (or configuration), unless
    /// it went out already.
    pub(super) fn emit_init(&mut self, t: Track) {
        let samples = self.options.layout == Layout::Samples;
        let st = self.track_mut(t);
        if !st.init_sent {
            st.init_sent = true;
            if let (true, Some(c)) = (samples, &st.config) {
                let event = RemuxEvent::Config {
                    track: t,
                    info: c.info.clone(),
                    description: st.description.clone(),
                };
                self.events.push_back(event);
            } else if let Some(c) = &st.config {
                let event = RemuxEvent::Init {
                    track: Some(t),
                    mime: mime(&[(t, c)]),
                    data: Bytes::from(init_segment(&[(t, c)])),
                    info: c.info.clone(),
                };
                self.events.push_back(event);
            }
        }
    }

    /// Tracks ordered by the time of their first pending sample.
    pub(super) fn tracks_by_pending_time(&self) -> [Track; 2] {
        let start = |s: &TrackState| {
            s.pending
                .first()
                .map_or(f64::INFINITY, |p| p.dts as f64 / f64::from(s.timescale()))
        };
        if start(&self.audio) < start(&self.video) {
            [Track::Audio, Track::Video]
        } else {
            [Track::Video, Track::Audio]
        }
    }
}

/// `video/mp4; codecs="…"` when there is video, else `audio/mp4; …`.
fn mime(tracks: &[(Track, &TrackConfig)]) -> String {
    let kind = if tracks.iter().any(|(t, _)| *t == Track::Video) {
        "video"
    } else {
        "audio"
    };
    let codecs: Vec<&str> = tracks.iter().map(|(_, c)| c.info.codec.as_str()).collect();
    format!("{kind}/mp4; codecs=\"{}\"", codecs.join(", "))
}
