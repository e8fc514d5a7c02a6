//! The segmenter: FLV tags in, CMAF segments out (ISO/IEC 23000-19), each made of
//! parts, for files (recording) and for HLS and Low-Latency HLS. Sans-IO like the
//! rest of the crate: [`Segmenter::feed`] a tag, then [`Segmenter::poll_event`]
//! until `None`.
//!
//! It drives the one remuxer ([`Remuxer`], Muxed layout, [`Fragmenting::OnCut`]),
//! cutting it at the boundaries below, so a part is one or more `moof` + `mdat`
//! and a segment is its parts; an `Init` (`ftyp` + `moov`) precedes them.
//!
//! Boundaries, decided on each coded frame before it is fed (so the frame opens
//! what follows):
//! - A segment ends at the first video keyframe once the segment spans at least
//!   `target_ms` (audio only: at any audio frame), or when the source's clock
//!   went back (a restarted source). A new configuration (a new `Init`) also
//!   ends the segment: the remuxer starts video at a keyframe again then.
//! - A part ends before a frame that would take it past `part_ms` (measured with
//!   the longer of the two intervals before that frame: so at most `part_ms` while
//!   frames come at a steady rate, or closer, for LL-HLS's PART-TARGET), or when its
//!   segment ends. With video, only video frames end parts: where H.264 video stops
//!   while the sound goes on, pictures that repeat the last one fill the hole
//!   (`segment/hole.rs`), and with [`SegmentOptions::live_playlist`] end its segments
//!   too.
//! - A part's sound starts where its picture starts, or within a frame after, and
//!   reaches at least where the picture ends: audio that starts before the cut
//!   joins the part, the rest waits for the next one (`Remuxer::cut_with_video`),
//!   and a cut whose audio has not all come yet (sources interleave audio a little
//!   late) holds the tags after it until it has, up to `part_ms` of video (past
//!   that, cuts stop waiting until the audio has caught up again). A
//!   player that times parts on one track and buffers both (hls.js times them on
//!   the track that starts first, and stalls if the buffer ends short of that
//!   track's end) then finds each part whole. Sound from before the first picture
//!   is left out.
//!
//! Timing: the remuxer lays each track's samples end to end, so a part starts where
//! the previous one ended. Its duration is that of the main track (video when the
//! init has video, else audio), from the fragments' exact start and end; a
//! segment's duration is the sum of its parts'. What the spans above are measured
//! on: the parts already out (exact) plus the FLV timestamps since the last cut.

mod hole;

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

use bytes::Bytes;

use crate::flv::{AudioPacket, AudioTag, FrameType, Tag, TagType, VideoPacket, VideoTag};
use crate::fmp4::{
    BACKWARD_JUMP_MS, Fragmenting, Layout, RemuxEvent, Remuxer, RemuxerOptions, Track, TrackInfo,
};
use hole::HoleFill;

/// How long segments and their parts are, in ms. Segments run from keyframe to
/// keyframe, so they are at least `target_ms` long (the source's GOP decides by how much).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentOptions {
    pub target_ms: u32,
    pub part_ms: u32,
    /// A segment with video that spans this long without a keyframe is cut at the next
    /// video frame anyway, its first part not independent: whoever holds segments in
    /// memory (an HLS window) is then bounded however rare the source's keyframes
    /// are (none after the first, from a broken or hostile publisher). `None`: a
    /// segment waits for a keyframe however long (a recording's files each start
    /// decodable).
    pub longest_ms: Option<u32>,
    /// Segments for a live playlist, not a recording: a segment in a video hole
    /// (pictures that repeat the last one, see `segment/hole.rs`) is cut at one of them
    /// once it would run past the target or the longest segment before, whichever is
    /// more (`EXT-X-TARGETDURATION` may not change; the segment after does not start
    /// independent), and the first init waits [`TRACK_WAIT_MS`] for a track the source
    /// announced. `false`: a hole's segment waits for a keyframe (a recording's files
    /// each start decodable), and the first init waits as the remuxer's Muxed layout
    /// does (its sound from before the first picture is not lost to the wait).
    pub live_playlist: bool,
}

impl Default for SegmentOptions {
    /// Recording: 6 s segments of 1 s parts.
    fn default() -> Self {
        SegmentOptions {
            target_ms: 6000,
            part_ms: 1000,
            longest_ms: None,
            live_playlist: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SegmentEvent {
    /// Muxed `ftyp` + `moov` for what follows; again whenever a codec or its
    /// configuration changes (then a new segment starts).
    Init {
        data: Bytes,
        mime: String,
        info: TrackInfo,
    },
    /// A segment begins; with video its first part starts with a keyframe, unless the
    /// segment was cut at [`SegmentOptions::longest_ms`].
    /// Sequence numbers start at 0 and go up by one per segment, across inits.
    /// It comes right before the segment's first `Part`, once that part is complete
    /// (so `start_ms` is exact).
    SegmentStart { sequence: u64, start_ms: f64 },
    /// One part (one or more `moof` + `mdat`), about `part_ms` long;
    /// `independent`: its video starts with a keyframe (always, for audio only).
    Part {
        data: Bytes,
        start_ms: f64,
        duration_ms: f64,
        independent: bool,
    },
    /// The segment `sequence` is complete: its parts' durations add up to `duration_ms`.
    SegmentEnd { sequence: u64, duration_ms: f64 },
}

/// FLV tags → CMAF init, segments and parts. Never panics on input: tags the
/// remuxer cannot use are skipped.
#[derive(Debug)]
pub struct Segmenter {
    options: SegmentOptions,
    remuxer: Remuxer,
    events: VecDeque<SegmentEvent>,
    /// Whether the current init has a video track: then only keyframes end segments.
    has_video: bool,
    next_sequence: u64,
    /// The segment whose parts are going out; opened by its first part.
    segment: Option<OpenSegment>,
    /// The fragments of the part being collected.
    part: PartBuilder,
    /// FLV timestamp of the first coded frame fed since the last cut.
    cut_ts: Option<u32>,
    /// Per track (video, audio): the last coded frame's FLV timestamp, the interval
    /// before it, and the longer of that and the one before, to end a part before a
    /// frame that would overrun it.
    last_ts: [Option<u32>; 2],
    step_ms: [u32; 2],
    /// Frames since the last step that came at its timestamp (a source's fault).
    same: [u32; 2],
    interval_ms: [u32; 2],
    /// The source's last keyframe (none since a hole), and how far it came after the
    /// one before (ms; 0 unknown): where the open segment will end
    /// ([`Segmenter::part_limit_ms`]).
    key_ts: Option<u32>,
    gop_ms: u32,
    /// A cut waiting for the audio to catch up with the video, and the tags held
    /// meanwhile (the video frame that decided it first).
    held: Option<Held>,
    /// Held tags let go, to be fed in order before the next one.
    replay: VecDeque<Input>,
    /// The last wait for the audio gave up (a source whose audio runs further behind
    /// than a part): cuts do not wait until one finds the audio caught up.
    audio_late: bool,
    /// Fills video holes with pictures that repeat the last one.
    hole: HoleFill,
    /// Those pictures, before the tag that revealed the hole (kept for its allocation).
    repeats: Vec<Tag>,
    /// The longest segment so far, in ms: where a hole's segment ends at the latest.
    longest_done_ms: f64,
    /// Live playlist: the tags held, in order, while the first init waits for a track
    /// the source announced ([`TRACK_WAIT_MS`]), and their bytes. Stepped once it can
    /// go out, they are cut into parts as any (held in the remuxer, they went out as
    /// one part as long as the wait). `waited`: the wait is over, the track given up.
    start: VecDeque<Input>,
    start_bytes: usize,
    waited: bool,
}

/// Where a part ends: within its segment, or with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    Part,
    Segment,
}

#[derive(Debug)]
struct Held {
    cut: Cut,
    tags: VecDeque<Input>,
}

/// A tag to step, and whether it is a picture that repeats the last one (`hole.rs`).
#[derive(Debug)]
struct Input {
    tag: Tag,
    repeat: bool,
}

impl Segmenter {
    pub fn new(options: SegmentOptions) -> Self {
        Segmenter {
            options,
            remuxer: Remuxer::new(RemuxerOptions {
                layout: Layout::Muxed,
                fragment: Fragmenting::OnCut,
                muxed_wait_ms: options.live_playlist.then_some(TRACK_WAIT_MS),
                ..RemuxerOptions::default()
            }),
            events: VecDeque::new(),
            has_video: false,
            next_sequence: 0,
            segment: None,
            part: PartBuilder::default(),
            cut_ts: None,
            last_ts: [None; 2],
            step_ms: [0; 2],
            same: [0; 2],
            interval_ms: [0; 2],
            key_ts: None,
            gop_ms: 0,
            held: None,
            replay: VecDeque::new(),
            audio_late: false,
            hole: HoleFill::default(),
            repeats: Vec::new(),
            longest_done_ms: 0.0,
            start: VecDeque::new(),
            start_bytes: 0,
            waited: false,
        }
    }

    pub fn feed(&mut self, tag: &Tag) {
        let mut repeats = core::mem::take(&mut self.repeats);
        self.hole.before(tag, &mut repeats);
        for repeat in repeats.drain(..) {
            self.admit(&repeat, true);
        }
        self.repeats = repeats;
        self.admit(tag, false);
    }

    /// [`Segmenter::step_in_order`], unless a live playlist's first init waits for a
    /// track: then coded frames, and headers of a track with frames held, are held in
    /// order, up to [`TRACK_WAIT_MS`]; other headers go on (one may configure the track
    /// waited for, which lets the held tags go).
    fn admit(&mut self, tag: &Tag, repeat: bool) {
        let awaited = self.remuxer.awaited_tracks();
        if !self.options.live_playlist || self.waited || !awaited.contains(&true) {
            self.let_start_go();
            return self.step_in_order(tag, repeat);
        }
        let frame = coded_frame(tag, repeat);
        let held_track = self.start.iter().any(|i| i.tag.tag_type == tag.tag_type);
        if frame.is_none() && !held_track {
            self.step_in_order(tag, repeat);
            if !self.remuxer.awaited_tracks().contains(&true) {
                self.let_start_go();
            }
            return;
        }
        let first = self
            .start
            .front()
            .map_or(tag.timestamp, |i| i.tag.timestamp);
        let span = i64::from(tag.timestamp) - i64::from(first);
        self.start_bytes += tag.data.len();
        self.start.push_back(Input {
            tag: tag.clone(),
            repeat,
        });
        if frame.is_some_and(|f| awaited[f.index()]) {
            // The track waited for, configured by its frames (MP3): configured from
            // this one first, so that the frames held go out under an init with it,
            // cut as any. (With frames before its header, it stays unconfigured: the
            // remuxer holds the init meanwhile, its own wait, those frames one part.)
            self.remuxer.configure_from(tag);
            self.let_start_go();
        } else if !(0..TRACK_WAIT_MS as i64).contains(&span)
            || self.start.len() >= MAX_START_TAGS
            || self.start_bytes >= MAX_START_BYTES
        {
            // The track is not coming (metadata that lies), or the clock went back.
            self.waited = true;
            self.remuxer.end_track_wait();
            self.let_start_go();
        }
    }

    /// The tags held for the first init are stepped, in order.
    fn let_start_go(&mut self) {
        self.start_bytes = 0;
        while let Some(input) = self.start.pop_front() {
            self.step_in_order(&input.tag, input.repeat);
        }
    }

    /// [`Segmenter::step`], then the tags it let go, before anything after it.
    fn step_in_order(&mut self, tag: &Tag, repeat: bool) {
        self.step(tag, repeat);
        while let Some(input) = self.replay.pop_front() {
            self.step(&input.tag, input.repeat);
        }
    }

    /// End of stream: what is pending goes out, and the open part and segment end.
    pub fn flush(&mut self) {
        self.let_start_go();
        while self.held.is_some() || !self.replay.is_empty() {
            match self.replay.pop_front() {
                Some(input) => self.step(&input.tag, input.repeat),
                None => self.release(),
            }
        }
        self.remuxer.flush();
        self.drain();
        self.end_segment(true);
        self.cut_ts = None;
    }

    pub fn poll_event(&mut self) -> Option<SegmentEvent> {
        self.events.pop_front()
    }

    /// One tag, in the order the source sent it (held ones again once let go), or a
    /// picture that repeats the last one.
    fn step(&mut self, tag: &Tag, repeat: bool) {
        let frame = coded_frame(tag, repeat);
        if let Some(held) = &mut self.held {
            if matches!(frame, Some(Frame::Audio)) {
                // The sound the cut waits for: it joins the part, or stays pending
                // for the next one if it starts past the cut.
                self.take(tag, frame);
                if !self.remuxer.audio_behind() {
                    self.release();
                }
                return;
            }
            // Video held past a part's worth: the sound is that late, or gone.
            let first = held.tags.front().map_or(tag.timestamp, |t| t.tag.timestamp);
            let waited = match frame {
                Some(Frame::Video { .. }) => i64::from(tag.timestamp) - i64::from(first),
                _ => 0,
            };
            held.tags.push_back(Input {
                tag: tag.clone(),
                repeat,
            });
            let gave_up =
                waited > i64::from(self.options.part_ms) || held.tags.len() >= MAX_HELD_TAGS;
            // Also let go when the clock went back, or for an audio header, which must
            // keep its place before the sound after it.
            if gave_up || waited < 0 || tag.tag_type == TagType::Audio {
                self.audio_late |= gave_up;
                self.release();
            }
            return;
        }
        if let Some(frame) = frame
            && let Some((cut, went_back)) = self.boundary(tag.timestamp, frame)
        {
            // A part's sound must reach the end of its picture (see `cut_with_video`):
            // a video frame that ends a part waits for the audio still to come.
            let behind = self.remuxer.audio_behind();
            self.audio_late &= behind;
            if behind && !went_back && !self.audio_late {
                self.held = Some(Held {
                    cut,
                    tags: VecDeque::from([Input {
                        tag: tag.clone(),
                        repeat,
                    }]),
                });
                return;
            }
            self.cut(cut);
        }
        self.take(tag, frame);
    }

    /// Feeds the tag to the remuxer.
    fn take(&mut self, tag: &Tag, frame: Option<Frame>) {
        if let Some(frame) = frame {
            self.measure_interval(tag.timestamp, frame);
            // Video from now on, before the init that says so comes out.
            self.has_video |= matches!(frame, Frame::Video { .. });
        }
        self.remuxer.feed(tag);
        self.drain();
        if frame.is_some() && self.cut_ts.is_none() {
            self.cut_ts = Some(tag.timestamp);
        }
    }

    /// The held cut is made, and the tags held go back in front of what comes next.
    fn release(&mut self) {
        let Some(held) = self.held.take() else { return };
        self.cut(held.cut);
        for input in held.tags.into_iter().rev() {
            self.replay.push_front(input);
        }
    }

    /// The part, or the segment, that this frame must not join (and whether the
    /// source's clock went back), if any.
    fn boundary(&self, ts: u32, frame: Frame) -> Option<(Cut, bool)> {
        let cut_ts = self.cut_ts?;
        let since_cut = i64::from(ts) - i64::from(cut_ts);
        let went_back = since_cut < -BACKWARD_JUMP_MS;
        let done = self.segment.as_ref().map_or(0.0, |s| s.end_ms - s.start_ms);
        let segment_ms = done + since_cut.max(0) as f64;
        // With video, its frames alone end parts (a part is measured on them), and
        // its keyframes alone end segments, unless one is past the longest.
        let too_long = self
            .options
            .longest_ms
            .is_some_and(|longest| segment_ms >= f64::from(longest.max(self.options.target_ms)));
        let (main, opens_segment, repeat) = match frame {
            Frame::Video { keyframe, repeat } => (true, keyframe || too_long, repeat),
            Frame::Audio => (!self.has_video, !self.has_video, false),
        };
        let interval = i64::from(self.interval_ms[frame.index()]);
        // With this frame the part would span its start to the frame's end.
        let part_ms = since_cut + interval;
        // A hole's segment, cut before it runs longer than any before it.
        let hole_ms = self.longest_done_ms.max(f64::from(self.options.target_ms));
        let hole_cut =
            self.options.live_playlist && repeat && segment_ms + interval as f64 > hole_ms;
        if hole_cut
            || (opens_segment && (went_back || segment_ms >= f64::from(self.options.target_ms)))
        {
            Some((Cut::Segment, went_back))
        } else if went_back
            || (main
                && since_cut > 0
                && part_ms > self.part_limit_ms(cut_ts, done, interval, repeat.then_some(hole_ms)))
        {
            Some((Cut::Part, went_back))
        } else {
            None
        }
    }

    /// The most the open part may span (ms): `part_ms`, or, in a live playlist, less
    /// where that would leave its segment's last part short. Where the segment will end
    /// is foreseen (in a hole, `hole_ms` after its start, where its repeats are cut;
    /// else the first keyframe past its target, keyframes `gop_ms` apart; else the
    /// target), and the frames left shared out evenly between as few parts as hold
    /// them, if none is then under 85 % of the longest. A 2 s segment of 25 fps
    /// pictures was six parts of 0.32 s and one of 0.08 s; hls.js, still parsing the
    /// part before that one when the playlist's update that closed the segment came,
    /// took it for the whole segment and stood still at its end for seconds (on a busy
    /// core, in 3 of 8 minute-long plays). Now seven parts, 0.28–0.32 s.
    fn part_limit_ms(&self, cut_ts: u32, done: f64, interval: i64, hole_ms: Option<f64>) -> i64 {
        let part_ms = i64::from(self.options.part_ms);
        if !self.options.live_playlist || interval <= 0 {
            return part_ms;
        }
        let start = f64::from(cut_ts) - done;
        let target = start + f64::from(self.options.target_ms);
        let end = match (hole_ms, self.has_video, self.key_ts, f64::from(self.gop_ms)) {
            (Some(hole), ..) => start + hole,
            (None, true, Some(key), gop) if gop > 0.0 => {
                f64::from(key) + libm::ceil((target - f64::from(key)) / gop).max(1.0) * gop
            }
            // No video, or keyframes not yet two: the target (where most
            // encoders put a keyframe).
            _ => target,
        };
        let left = libm::round((end - f64::from(cut_ts)) / interval as f64) as i64;
        let most = (part_ms / interval).max(1);
        if left <= most {
            return part_ms;
        }
        let parts = (left + most - 1) / most;
        // The shorter parts must last 85 % of the longest (`PART-TARGET`, RFC 8216bis
        // §4.4.4.9); where sharing cannot keep to that (15 fps: parts of 3 and 4
        // pictures), full parts and a short last one, which the RFC allows.
        if left / parts * 100 < most * 85 {
            return part_ms;
        }
        (left + parts - 1) / parts * interval
    }

    fn cut(&mut self, cut: Cut) {
        // The first part of all: sound from before its picture is left out (later,
        // each part's sound starts where the previous one's ended).
        self.remuxer
            .cut_with_video(self.next_sequence == 0 && self.segment.is_none());
        self.drain();
        match cut {
            Cut::Part => self.end_part(false),
            Cut::Segment => self.end_segment(false),
        }
        self.cut_ts = None;
    }

    fn measure_interval(&mut self, ts: u32, frame: Frame) {
        match frame {
            Frame::Video {
                keyframe: true,
                repeat: false,
            } => {
                if let Some(key) = self.key_ts {
                    self.gop_ms = u32::try_from(i64::from(ts) - i64::from(key))
                        .ok()
                        .filter(|&g| g <= MAX_GOP_MS)
                        .unwrap_or(0);
                }
                self.key_ts = Some(ts);
            }
            // A hole's keyframes are missing: the distance across it is no GOP.
            Frame::Video { repeat: true, .. } => self.key_ts = None,
            _ => {}
        }
        let i = frame.index();
        if let Some(last) = self.last_ts[i] {
            let step = i64::from(ts) - i64::from(last);
            if step == 0 {
                // Frames that share a timestamp (a source's fault) share the step after.
                self.same[i] = self.same[i].saturating_add(1);
                return;
            }
            let step = step / (i64::from(self.same[i]) + 1);
            self.same[i] = 0;
            if (1..=MAX_INTERVAL_MS).contains(&step) {
                // The longer of two: a short one (a hole's last repeat, a source's
                // jitter) is no measure of the frame after it.
                self.interval_ms[i] = self.step_ms[i].max(step as u32);
                self.step_ms[i] = step as u32;
            }
        }
        self.last_ts[i] = Some(ts);
    }

    fn drain(&mut self) {
        while let Some(event) = self.remuxer.poll_event() {
            match event {
                RemuxEvent::Init {
                    data, mime, info, ..
                } => {
                    // What came before goes out under the old init.
                    self.end_segment(true);
                    self.has_video = mime.starts_with("video/");
                    if !self.has_video {
                        self.hole.forget();
                    }
                    self.events
                        .push_back(SegmentEvent::Init { data, mime, info });
                }
                RemuxEvent::Fragment {
                    track,
                    data,
                    start_ms,
                    end_ms,
                    keyframe,
                    ..
                } => {
                    let main = if self.has_video {
                        Track::Video
                    } else {
                        Track::Audio
                    };
                    self.part
                        .add(track == Some(main), track, data, start_ms, end_ms, keyframe);
                }
                // Metadata, discontinuities (the remuxer keeps the timeline going),
                // unsupported or bad tags: nothing for the segments.
                _ => {}
            }
        }
    }

    /// The collected fragments go out as a part, after the `SegmentStart` if it is
    /// the segment's first. Fragments of audio alone while the init has video (the
    /// audio that runs past the last frame before a cut) join the next part
    /// instead, unless `force`: a part is measured on its video.
    fn end_part(&mut self, force: bool) {
        let carry = self.has_video && self.part.main_end.is_none();
        if self.part.data.is_empty() || (carry && !force) {
            return;
        }
        let part = core::mem::take(&mut self.part);
        let segment = match &mut self.segment {
            Some(s) => s,
            None => {
                let start_ms = part.main_start.or(part.any_start).unwrap_or(0.0);
                let sequence = self.next_sequence;
                self.next_sequence += 1;
                self.events
                    .push_back(SegmentEvent::SegmentStart { sequence, start_ms });
                self.segment.insert(OpenSegment {
                    sequence,
                    start_ms,
                    end_ms: start_ms,
                })
            }
        };
        let start_ms = segment.end_ms;
        let end_ms = part
            .main_end
            .or(part.any_end)
            .unwrap_or(start_ms)
            .max(start_ms);
        segment.end_ms = end_ms;
        self.events.push_back(SegmentEvent::Part {
            data: Bytes::from(part.data),
            start_ms,
            duration_ms: end_ms - start_ms,
            independent: !self.has_video || part.video_keyframe == Some(true),
        });
    }

    fn end_segment(&mut self, force: bool) {
        self.end_part(force);
        if let Some(s) = self.segment.take() {
            self.longest_done_ms = self.longest_done_ms.max(s.end_ms - s.start_ms);
            self.events.push_back(SegmentEvent::SegmentEnd {
                sequence: s.sequence,
                duration_ms: s.end_ms - s.start_ms,
            });
        }
    }
}

/// For a live playlist, how long the first init waits for a track the source announced
/// (`onMetaData`) and has not configured yet: a camera whose sound starts seconds after
/// its pictures, or the reverse. An init that gains a track later starts the
/// playlist's next segment after a discontinuity, whose change of tracks hls.js cannot
/// follow (a fatal `bufferAppendError`). The segmenter holds the frames meanwhile (see
/// `Segmenter::admit`), so the first parts are as long as any; only a track that its
/// frames configure (MP3) is waited for in the remuxer, the frames before it one part.
pub const TRACK_WAIT_MS: u64 = 5000;

/// At most this many tags are held while a cut waits for the audio; and 8 times as
/// many, or [`MAX_START_BYTES`], while the first init waits for a track.
const MAX_HELD_TAGS: usize = 256;
const MAX_START_TAGS: usize = 8 * MAX_HELD_TAGS;
const MAX_START_BYTES: usize = 32 << 20;

/// A frame interval longer than this is a pause, not the stream's rate.
const MAX_INTERVAL_MS: i64 = 1000;
/// Keyframes further apart than this (ms) foresee no segment's end.
const MAX_GOP_MS: u32 = 30_000;

#[derive(Debug, Clone, Copy)]
enum Frame {
    /// `repeat`: a picture that repeats the last one.
    Video {
        keyframe: bool,
        repeat: bool,
    },
    Audio,
}

impl Frame {
    fn index(self) -> usize {
        match self {
            Frame::Video { .. } => 0,
            Frame::Audio => 1,
        }
    }
}

/// The tag as a coded frame (`repeat`: a picture that repeats the last one), or
/// `None` for headers, metadata and tags the remuxer will reject anyway.
fn coded_frame(tag: &Tag, repeat: bool) -> Option<Frame> {
    match tag.tag_type {
        TagType::Video => {
            let v = VideoTag::parse(&tag.data).ok()?;
            let coded = matches!(v.packet, VideoPacket::CodedFrames { .. });
            (coded && v.frame_type != FrameType::CommandFrame).then(|| Frame::Video {
                keyframe: v.is_keyframe(),
                repeat,
            })
        }
        TagType::Audio if !tag.data.is_empty() => {
            let a = AudioTag::parse(&tag.data).ok()?;
            (a.packet == AudioPacket::CodedFrames).then_some(Frame::Audio)
        }
        _ => None,
    }
}

#[derive(Debug)]
struct OpenSegment {
    sequence: u64,
    start_ms: f64,
    /// Where its last part ended.
    end_ms: f64,
}

/// The fragments of one part, and the times it is measured by.
#[derive(Debug, Default)]
struct PartBuilder {
    data: Vec<u8>,
    any_start: Option<f64>,
    any_end: Option<f64>,
    /// Of the main track's fragments (video, else audio).
    main_start: Option<f64>,
    main_end: Option<f64>,
    /// Whether the part's first video fragment starts with a keyframe.
    video_keyframe: Option<bool>,
}

impl PartBuilder {
    fn add(
        &mut self,
        main: bool,
        track: Option<Track>,
        data: Bytes,
        start_ms: f64,
        end_ms: f64,
        keyframe: bool,
    ) {
        self.data.extend_from_slice(&data);
        let earliest = |t: Option<f64>| Some(t.map_or(start_ms, |t| t.min(start_ms)));
        let latest = |t: Option<f64>| Some(t.map_or(end_ms, |t| t.max(end_ms)));
        self.any_start = earliest(self.any_start);
        self.any_end = latest(self.any_end);
        if main {
            self.main_start = earliest(self.main_start);
            self.main_end = latest(self.main_end);
        }
        if track == Some(Track::Video) && self.video_keyframe.is_none() {
            self.video_keyframe = Some(keyframe);
        }
    }
}

#[cfg(test)]
mod tests;
