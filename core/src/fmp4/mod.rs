//! The remuxer: FLV tags in, fragmented MP4 for Media Source Extensions (or a
//! file) out. Sans-IO like the rest of the crate: [`Remuxer::feed`] a tag, then
//! [`Remuxer::poll_event`] until `None`.
//!
//! Output: per track (PerTrack layout) or for all tracks (Muxed), an `Init`
//! (`ftyp` + `moov`, ISO/IEC 14496-12) before the first fragment that needs it,
//! then `Fragment`s (`moof` + `mdat`, one `traf` each). Timing is described in
//! `track.rs`; the box layout in `init.rs` and `fragment.rs`.
//!
//! Muxed layout and its init: the init is emitted when a coded frame is ready to
//! go out and every track known so far (from a tag, or announced by `onMetaData`)
//! has its configuration, or, if a track stays missing (metadata that lies, an
//! audio track whose sequence header never comes), once the held frames span
//! [`RemuxerOptions::muxed_wait_ms`] ([`MUXED_HOLD_MS`] by default),
//! or on [`Remuxer::flush`]. A track whose configuration only arrives later gets a
//! new init with every track, as a configuration change would. The PerTrack layout
//! never waits: each track's init goes out with that track's first frame.

mod boxes;
mod codecs;
mod fragment;
mod hold;
mod init;
mod input;
mod lag;
mod output;
mod track;

#[cfg(test)]
mod tests;

use alloc::borrow::ToOwned;
use alloc::collections::VecDeque;
use alloc::string::{String, ToString};

use bytes::Bytes;

use crate::amf::Value;
use crate::flv::{Tag, TagType};
use codecs::ConfigError;
use init::TrackConfig;
use track::{Gap, TrackState};

pub use hold::{
    HOLD_AHEAD_MS, HOLD_RENEW_MS, MAX_GOP_BYTES, MAX_GOP_SAMPLES, MAX_HOLD_MS,
    MAX_HOLD_THRESHOLD_MS, MAX_RENEWED_GOP_MS,
};
pub use lag::{
    FILL_AHEAD_MARGIN_MS, FILL_AHEAD_MS, FillAhead, MAX_FILL_AHEAD_MARGIN_MS, MAX_LAG_FILL_MS,
    MIN_FILL_AHEAD_MS,
};
pub use track::MAX_FILL_MS;

/// How long a Muxed layout holds frames for a track that is known but not yet configured.
pub const MUXED_HOLD_MS: u64 = 1000;
/// Times of two tracks (in their own timescales) closer than this, in ms, are the same.
const TIME_EPSILON_MS: f64 = 1e-6;
/// A timestamp step larger than this, forwards, is a discontinuity (an upstream
/// reconnect, a restarted encoder), not a gap to reproduce.
pub const FORWARD_JUMP_MS: i64 = 5000;
/// A step back larger than this is a discontinuity; so is the 32-bit wrap of FLV
/// timestamps.
pub const BACKWARD_JUMP_MS: i64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// One init segment and fragment stream per track: one SourceBuffer per track.
    #[default]
    PerTrack,
    /// One init with every track and the fragments of all tracks: for files.
    Muxed,
    /// No MP4 boxes: a [`RemuxEvent::Config`] per track configuration, then a
    /// [`RemuxEvent::Sample`] per coded frame, timed and gap-filled exactly as the
    /// PerTrack layout's samples are, but audio that falls behind video is not kept
    /// up with silence (`lag.rs`): for a decoder fed frame by frame (WebCodecs).
    Samples,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fragmenting {
    /// One fragment per video frame and per audio tag: the lowest latency.
    #[default]
    EveryFrame,
    /// A fragment per track whenever its samples span at least this many ms.
    Duration(u32),
    /// Samples collect until the caller calls [`Remuxer::cut`]: e.g. after each
    /// network read, so that no frame waits for a later read and a read of many
    /// frames makes one fragment per track, not one per frame.
    OnCut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RemuxerOptions {
    pub layout: Layout,
    pub fragment: Fragmenting,
    /// When silence keeps audio up with video (`lag.rs`), and when the last picture
    /// is held for video that falls behind audio.
    pub fill_ahead: FillAhead,
    /// PerTrack layout: H.264 video that falls behind audio goes on with pictures
    /// that repeat its last one (`hold.rs`), for a browser that stops the element
    /// where the video ends.
    pub repeat_pictures: bool,
    /// PerTrack layout: video that falls behind audio and has no pictures to repeat
    /// it with (not H.264) holds its last picture by replaying its GOP (`hold.rs`):
    /// Chromium only.
    pub hold_picture: bool,
    /// Muxed layout: how long frames wait for a track that is known but not yet
    /// configured before an init goes out without it; `None`: [`MUXED_HOLD_MS`].
    pub muxed_wait_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Track {
    Video,
    Audio,
}

impl core::fmt::Display for Track {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Track::Video => "video",
            Track::Audio => "audio",
        })
    }
}

/// What an init segment describes. In the Muxed layout: the codecs joined, the
/// video size and the audio rate and channels.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrackInfo {
    /// RFC 6381 codecs string, e.g. `avc1.64001f` or `mp4a.40.2`.
    pub codec: String,
    pub width: u32,
    pub height: u32,
    pub sample_rate: u32,
    pub channels: u8,
    /// The `mdhd` timescale of the track's decode times.
    pub timescale: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RemuxEvent {
    /// An initialization segment; `track` is `None` in the Muxed layout.
    Init {
        track: Option<Track>,
        /// e.g. `video/mp4; codecs="avc1.64001f"`, for `MediaSource.addSourceBuffer`.
        mime: String,
        data: Bytes,
        info: TrackInfo,
    },
    /// A `moof` + `mdat`. `track` names the track whose samples it holds (one per
    /// fragment, also in the Muxed layout, where all go to the same output).
    Fragment {
        track: Option<Track>,
        data: Bytes,
        start_ms: f64,
        end_ms: f64,
        keyframe: bool,
        samples: u32,
    },
    /// Samples layout: a track's decoder configuration, before the first sample
    /// that needs it (as an init would be). `info.codec` is the codecs string a
    /// decoder is configured with (`avc1.64001f`, `mp4a.40.2`, `mp3`).
    Config {
        track: Track,
        info: TrackInfo,
        /// The codec's configuration record as the FLV sequence header carries it
        /// (`avcC`, `hvcC`, AAC's AudioSpecificConfig, `OpusHead`); `None` for a
        /// codec configured by its frames alone (MP3).
        description: Option<Bytes>,
    },
    /// Samples layout: one coded frame (length-prefixed NAL units for AVC and HEVC,
    /// a raw AAC frame), times in microseconds on the output timeline.
    Sample {
        track: Track,
        data: Bytes,
        dts_us: i64,
        pts_us: i64,
        duration_us: i64,
        keyframe: bool,
    },
    /// FLV timestamps jumped from `from_ms` to `to_ms`. When the source's clock
    /// jumped (an upstream restart, the 32-bit wrap; reported by the track that
    /// saw it first) the output timeline goes on without a break; when the audio
    /// track resumed after a hole longer than
    /// [`MAX_FILL_MS`], that track restarts at its frame's time and its output has
    /// that hole (the player must step over it).
    Discontinuity {
        track: Track,
        from_ms: i64,
        to_ms: i64,
    },
    /// The `onMetaData` object.
    Metadata(Value),
    /// The track's codec cannot go into MP4 here; its tags are dropped, the other track plays on.
    /// `pictures`: the `Samples` layout decodes its pictures (`codec::picture`), so a
    /// renderer that draws them plays it.
    Unsupported {
        track: Track,
        codec: String,
        pictures: bool,
    },
    /// A tag that could not be used, skipped; the message names track and timestamp.
    Error {
        track: Option<Track>,
        message: String,
    },
}

impl RemuxEvent {
    /// The bytes of an init segment, a fragment, a sample or a decoder configuration.
    pub fn payload(&self) -> Option<&[u8]> {
        match self {
            RemuxEvent::Init { data, .. }
            | RemuxEvent::Fragment { data, .. }
            | RemuxEvent::Sample { data, .. } => Some(data),
            RemuxEvent::Config { description, .. } => description.as_deref(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RemuxStats {
    pub tags_in: u64,
    pub bytes_in: u64,
    pub fragments_out: u64,
    pub bytes_out: u64,
    pub samples_out: u64,
    /// Tags that produced no sample: unsupported, malformed, before the first
    /// keyframe, audio overlapping the previous frame.
    pub dropped: u64,
    /// Holes in the audio track filled with silence (or a stretched sample), and
    /// each time silence was added to keep audio up with video (`lag.rs`).
    pub gaps_filled: u64,
    /// Milliseconds of those holes.
    pub gap_ms_filled: u64,
    /// Times the last picture was held (or its hold renewed) for video that fell
    /// behind audio (`hold.rs`).
    pub pictures_held: u64,
}

/// FLV → fragmented MP4. Never panics on input: problems become events.
#[derive(Debug)]
pub struct Remuxer {
    options: RemuxerOptions,
    video: TrackState,
    audio: TrackState,
    events: VecDeque<RemuxEvent>,
    stats: RemuxStats,
    /// Muxed: `mfhd` sequence numbers for the one output.
    muxed_sequence: u32,
    /// Muxed: tracks announced by a tag or by `onMetaData`.
    expect: [bool; 2],
    /// How far audio is behind video: see `lag.rs`.
    lag: lag::AudioLag,
    /// The GOP to replay for video behind audio: see `hold.rs`.
    hold: hold::PictureHold,
    /// Legacy audio's conversion to FLAC, with its state (Nellymoser's overlap).
    #[cfg(feature = "legacy-audio")]
    legacy: crate::codec::legacy::Legacy,
}

impl Remuxer {
    pub fn new(options: RemuxerOptions) -> Self {
        Remuxer {
            options,
            video: TrackState::new(Track::Video),
            audio: TrackState::new(Track::Audio),
            events: VecDeque::new(),
            stats: RemuxStats::default(),
            muxed_sequence: 1,
            expect: [false; 2],
            lag: lag::AudioLag::new(options.fill_ahead),
            hold: hold::PictureHold::new(options.fill_ahead),
            #[cfg(feature = "legacy-audio")]
            legacy: Default::default(),
        }
    }

    pub fn feed(&mut self, tag: &Tag) {
        self.stats.tags_in += 1;
        self.stats.bytes_in += tag.data.len() as u64;
        match tag.tag_type {
            TagType::Video => self.push_video(tag),
            TagType::Audio => self.push_audio(tag),
            TagType::Script => self.push_script(tag),
        }
    }

    /// End of stream: every pending sample goes out (in the Muxed layout, with the
    /// init if it was still waiting for a track).
    pub fn flush(&mut self) {
        for t in self.tracks_by_pending_time() {
            self.emit_pending(t, true);
        }
    }

    /// Every track's pending samples go out now, a fragment each (in the Muxed
    /// layout, once its init may go out). Unlike [`Remuxer::flush`], the stream
    /// goes on: it is how [`Fragmenting::OnCut`] ends a fragment.
    pub fn cut(&mut self) {
        for t in self.tracks_by_pending_time() {
            self.emit_pending(t, false);
        }
    }

    /// [`Remuxer::cut`] in step with the video, for the Muxed layout's segments: audio
    /// that starts where the pending video is shown until, or later, stays pending
    /// for the next fragment; and, if `trim`, audio that starts before that video is
    /// dropped. Each fragment's sound then starts with its picture or after it and,
    /// once [`Remuxer::audio_behind`] is false, lasts as long: a player that times
    /// the fragments on one track finds the other one there as well (hls.js times
    /// them on the track that starts first, and waits for that track's end).
    pub fn cut_with_video(&mut self, trim: bool) {
        let Some((start_ms, end_ms)) = self.video.pending_presentation_ms() else {
            return self.cut();
        };
        if trim {
            self.audio.drop_pending_before(start_ms);
        }
        let later = self.audio.split_pending_at(end_ms);
        self.cut();
        self.audio.append_pending(later);
    }

    /// Whether the audio placed so far ends before the pending video is shown
    /// until: a [`Remuxer::cut_with_video`] now would leave the fragment's sound
    /// short of its picture. False without pending video or without audio yet.
    pub fn audio_behind(&self) -> bool {
        match (self.video.pending_presentation_ms(), self.audio.end_ms()) {
            (Some((_, video_end)), Some(audio_end)) => audio_end < video_end - TIME_EPSILON_MS,
            _ => false,
        }
    }

    pub fn poll_event(&mut self) -> Option<RemuxEvent> {
        self.events.pop_front()
    }

    pub fn stats(&self) -> RemuxStats {
        self.stats
    }

    /// The video's frame interval, in ms, once two frames came: how long its newest
    /// frame is taken to last (see `track.rs`).
    pub fn video_frame_ms(&self) -> Option<f64> {
        self.video.frame_ms()
    }

    /// Stores a sequence header; an identical repeat changes nothing. The
    /// configuration is built at the next coded frame (some need the frame too).
    fn sequence_header(&mut self, t: Track, body: Bytes) {
        let st = self.track_mut(t);
        if st.header.as_ref() != Some(&body) {
            st.header = Some(body);
            st.header_applied = false;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn coded_frame(
        &mut self,
        t: Track,
        ts: u32,
        cts: i32,
        body: Bytes,
        keyframe: bool,
        needs_header: bool,
        make: impl Fn(&Bytes) -> Result<TrackConfig, ConfigError>,
    ) {
        let st = self.track_mut(t);
        // Video decodes from a keyframe on, and is configured only at one (VP9
        // takes its picture size from the keyframe).
        if t == Track::Video && !keyframe && (st.need_keyframe || !st.header_applied) {
            self.stats.dropped += 1;
            return;
        }
        if !self.configure(t, ts, needs_header, make) {
            return;
        }
        let st = self.track_mut(t);
        let Some(config) = &st.config else {
            if !st.missing_header_reported {
                st.missing_header_reported = true;
                return self.error(Some(t), ts, "coded frame before any sequence header");
            }
            self.stats.dropped += 1;
            return;
        };
        let data = match config.payload.sample(body) {
            Ok(d) => d,
            Err(why) => return self.error(Some(t), ts, why),
        };
        if data.is_empty() {
            self.stats.dropped += 1;
            return;
        }
        st.need_keyframe = false;
        let from = st.last_raw;
        let (ms, jumped) = self.map_time(t, ts);
        if jumped {
            self.hold.forget();
        }
        if t == Track::Video && !jumped {
            self.picture_coming(ms);
        }
        let discontinuity = RemuxEvent::Discontinuity {
            track: t,
            from_ms: i64::from(from.unwrap_or(0)),
            to_ms: i64::from(ts),
        };
        let placed = self.track_mut(t).place(ms, cts, data, keyframe);
        if t == Track::Audio {
            self.audio_frame(ms, placed.is_none());
        }
        let Some(placed) = placed else {
            self.stats.dropped += 1;
            if jumped {
                self.events.push_back(discontinuity);
            }
            return;
        };
        if placed.resync {
            // Forced: in the Muxed layout held samples could not otherwise go
            // out before these, whose decode times do not follow theirs.
            self.emit_pending(t, true);
        }
        // After the samples from before it, in either case.
        if jumped || placed.gap == Gap::Restarted {
            self.events.push_back(discontinuity);
        }
        if let Gap::Filled { ms } = placed.gap {
            self.stats.gaps_filled += 1;
            self.stats.gap_ms_filled += ms;
        }
        if let Fragmenting::Duration(limit) = self.options.fragment {
            let first = placed.silence.first().unwrap_or(&placed.sample).dts;
            if self.track_mut(t).pending_span_ms(first) >= u64::from(limit) {
                self.emit_pending(t, false);
            }
        }
        if t == Track::Video {
            self.picture_placed(ms, &placed.sample);
        }
        let st = self.track_mut(t);
        for sample in placed.silence {
            st.push_pending(sample);
        }
        st.push_pending(placed.sample);
        let full = st.pending_full();
        if self.options.fragment == Fragmenting::EveryFrame || full {
            self.emit_pending(t, full);
        }
        match t {
            Track::Video => self.keep_audio_up(ms),
            Track::Audio => self.keep_video_up(),
        }
    }

    /// Configures the track from a new sequence header, or from the frame itself
    /// when the codec has none; false when the tag is dropped (reported).
    fn configure(
        &mut self,
        t: Track,
        ts: u32,
        needs_header: bool,
        make: impl Fn(&Bytes) -> Result<TrackConfig, ConfigError>,
    ) -> bool {
        let st = self.track_mut(t);
        let built = if !needs_header {
            Some(make(&Bytes::new()))
        } else {
            match (&st.header, st.header_applied) {
                (Some(h), false) => Some(make(h)),
                _ => None,
            }
        };
        match built {
            Some(Ok(config)) => {
                let st = self.track_mut(t);
                st.header_applied = true;
                // Codecs without a sequence header (MP3) are configured by their frames.
                st.description = if needs_header {
                    st.header.clone()
                } else {
                    None
                };
                self.switch_config(t, config);
            }
            Some(Err(ConfigError::Unsupported(codec))) => {
                self.unsupported(t, codec, false);
                return false;
            }
            Some(Err(ConfigError::Invalid(why))) => {
                self.track_mut(t).header = None;
                self.error(Some(t), ts, &format!("bad decoder configuration: {why}"));
                return false;
            }
            None => {}
        }
        true
    }

    /// A configuration that differs from the current one: what is pending goes out
    /// under the old init, then the new init is due. Video waits for a keyframe.
    fn switch_config(&mut self, t: Track, config: TrackConfig) {
        if self.track_mut(t).config.as_ref() == Some(&config) {
            return;
        }
        if self.options.layout == Layout::Muxed {
            // Before the first init nothing is due: held frames wait for it.
            if self.video.init_sent || self.audio.init_sent {
                self.flush();
            }
        } else {
            self.emit_pending(t, false);
        }
        let st = self.track_mut(t);
        if st.config.as_ref().map(|c| c.timescale) != Some(config.timescale) {
            st.rescale_timing(config.timescale);
        }
        let repeat = config.repeat.clone();
        st.config = Some(config);
        st.init_sent = false;
        st.need_keyframe = t == Track::Video;
        if t == Track::Video {
            self.hold.configure(repeat);
        }
    }

    /// FLV time → output time (ms), and whether this is a discontinuity (the
    /// caller reports it, once the samples from before it have gone out).
    ///
    /// Each track keeps the offset of the source timeline it is on. A step out of
    /// range from the track's own previous frame is a jump of that timeline (an
    /// upstream restart, the 32-bit wrap): if the other track already made the
    /// same jump (its last timestamp is in range of this one) this track takes
    /// the other's offset; otherwise it is a discontinuity, and the track goes on
    /// where the output ends (after the 32-bit wrap, exactly 2^32 ms on). So the
    /// tracks of one source jump together whichever jumps first (the other is not
    /// moved while it has not), while a track that starts late, or resumes after
    /// a pause while the other ran on, is not a discontinuity.
    fn map_time(&mut self, t: Track, raw: u32) -> (i64, bool) {
        let near = |last: Option<u32>| {
            last.is_some_and(|last| {
                let step = i64::from(raw) - i64::from(last);
                (-BACKWARD_JUMP_MS..=FORWARD_JUMP_MS).contains(&step)
            })
        };
        let other = match t {
            Track::Video => &self.audio,
            Track::Audio => &self.video,
        };
        let (other_raw, other_offset) = (other.last_raw, other.offset_ms);
        let end = libm::round(self.video.end_ms.max(self.audio.end_ms)) as i64;
        let st = self.track_mut(t);
        let mut jumped = false;
        match st.last_raw {
            Some(_) if near(st.last_raw) => {}
            // A late start, or the other track's jump: its timeline.
            _ if near(other_raw) || (st.last_raw.is_none() && other_raw.is_some()) => {
                st.offset_ms = other_offset;
            }
            None => {}
            Some(last) => {
                let step = i64::from(raw) + (1 << 32) - i64::from(last);
                if (0..=FORWARD_JUMP_MS).contains(&step) {
                    // The 32-bit wrap: time went on by exactly this step.
                    st.offset_ms += 1 << 32;
                } else {
                    // Go on where the output ends: neither track gets a hole or overlap.
                    st.offset_ms = end - i64::from(raw);
                }
                jumped = true;
            }
        }
        st.last_raw = Some(raw);
        (i64::from(raw) + st.offset_ms, jumped)
    }

    fn track_mut(&mut self, t: Track) -> &mut TrackState {
        match t {
            Track::Video => &mut self.video,
            Track::Audio => &mut self.audio,
        }
    }

    /// Reported once; the track's tags are dropped from then on and, in the Muxed
    /// layout, it no longer holds back the init.
    fn unsupported(&mut self, t: Track, codec: String, pictures: bool) {
        let st = self.track_mut(t);
        st.unsupported = true;
        st.pending.clear();
        self.stats.dropped += 1;
        self.events.push_back(RemuxEvent::Unsupported {
            track: t,
            codec,
            pictures,
        });
    }

    fn error(&mut self, track: Option<Track>, ts: u32, why: &str) {
        self.stats.dropped += 1;
        let what = track.map_or_else(|| "script".to_owned(), |t| t.to_string());
        self.events.push_back(RemuxEvent::Error {
            track,
            message: format!("{what} tag at {ts} ms: {why}"),
        });
    }
}
