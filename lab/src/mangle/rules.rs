//! The rewrite rules: pure functions over FLV tags (state kept between tags, no I/O),
//! each turning a clean live stream into one of the corpus's nasty ones.

use bytes::{Bytes, BytesMut};
use flashless_core::flv::{Tag, TagType};

/// What a rule passes on: a tag, or "the publisher reconnects here".
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Tag(Tag),
    Reconnect,
}

/// One rewrite: each tag in, any number of outputs out.
pub trait Rule: Send {
    fn apply(&mut self, tag: Tag, out: &mut Vec<Out>);
}

/// Passes every tag unchanged (the clean reference case).
pub struct Clean;

impl Rule for Clean {
    fn apply(&mut self, tag: Tag, out: &mut Vec<Out>) {
        out.push(Out::Tag(tag));
    }
}

/// A codec configuration tag (AVC/HEVC sequence header, AAC AudioSpecificConfig):
/// the decoder needs it, so no rule drops it.
pub fn is_config(tag: &Tag) -> bool {
    let (Some(&head), Some(&kind)) = (tag.data.first(), tag.data.get(1)) else {
        return false;
    };
    match tag.tag_type {
        TagType::Video => matches!(head & 0x0f, 7 | 12) && kind == 0,
        TagType::Audio => head >> 4 == 10 && kind == 0,
        TagType::Script => false,
    }
}

/// A video tag that starts a GOP.
pub fn is_keyframe(tag: &Tag) -> bool {
    tag.tag_type == TagType::Video && tag.data.first().is_some_and(|b| b >> 4 == 1)
}

/// The latest configuration and metadata seen, to resend as a restarted publisher does.
#[derive(Default, Clone)]
struct Headers {
    metadata: Option<Tag>,
    video: Option<Tag>,
    audio: Option<Tag>,
}

impl Headers {
    fn note(&mut self, tag: &Tag) {
        if tag.tag_type == TagType::Script {
            self.metadata = Some(tag.clone());
        } else if is_config(tag) {
            let slot = match tag.tag_type {
                TagType::Video => &mut self.video,
                _ => &mut self.audio,
            };
            *slot = Some(tag.clone());
        }
    }

    /// Every header known, stamped `ts`.
    fn emit(&self, ts: u32, out: &mut Vec<Out>) {
        for tag in [&self.metadata, &self.video, &self.audio]
            .into_iter()
            .flatten()
        {
            out.push(Out::Tag(Tag {
                timestamp: ts,
                ..tag.clone()
            }));
        }
    }
}

/// Drops the media tags of `track` whose timestamp falls `phase_ms..phase_ms + len_ms`
/// into each `every_ms` period. A video hole lasts until the next keyframe, as an
/// encoder's would: frames after a lost one cannot be decoded.
pub struct Holes {
    pub track: TagType,
    pub every_ms: u32,
    pub phase_ms: u32,
    pub len_ms: u32,
    waiting_key: bool,
}

impl Holes {
    pub fn new(track: TagType, every_ms: u32, phase_ms: u32, len_ms: u32) -> Holes {
        Holes {
            track,
            every_ms,
            phase_ms,
            len_ms,
            waiting_key: false,
        }
    }
}

impl Rule for Holes {
    fn apply(&mut self, tag: Tag, out: &mut Vec<Out>) {
        if tag.tag_type != self.track || is_config(&tag) {
            out.push(Out::Tag(tag));
            return;
        }
        let at = tag.timestamp % self.every_ms.max(1);
        let inside = at >= self.phase_ms && at < self.phase_ms + self.len_ms;
        if inside {
            self.waiting_key = self.track == TagType::Video;
            return;
        }
        if self.waiting_key {
            if !is_keyframe(&tag) {
                return;
            }
            self.waiting_key = false;
        }
        out.push(Out::Tag(tag));
    }
}

/// The tags whose timestamp falls `phase_ms..phase_ms + len_ms` into each `every_ms`
/// period are held, and sent at once with the first tag after them, in order: a
/// publisher's uplink that stalls and then delivers its backlog (`len_ms` <
/// `every_ms`), or a congested one that delivers in bunches (`len_ms` = `every_ms`:
/// each period's tags together, when the next period's first tag comes).
pub struct Bunches {
    pub every_ms: u32,
    pub phase_ms: u32,
    pub len_ms: u32,
    held: Vec<Tag>,
    /// The period the held tags are from.
    period: u32,
}

impl Bunches {
    pub fn new(every_ms: u32, phase_ms: u32, len_ms: u32) -> Bunches {
        Bunches {
            every_ms,
            phase_ms,
            len_ms,
            held: Vec::new(),
            period: 0,
        }
    }
}

impl Rule for Bunches {
    fn apply(&mut self, tag: Tag, out: &mut Vec<Out>) {
        let every = self.every_ms.max(1);
        let at = tag.timestamp % every;
        let inside = at >= self.phase_ms && at < self.phase_ms + self.len_ms;
        let period = tag.timestamp / every;
        if !inside || period != self.period {
            out.extend(self.held.drain(..).map(Out::Tag));
        }
        if inside {
            self.period = period;
            self.held.push(tag);
        } else {
            out.push(Out::Tag(tag));
        }
    }
}

/// `track` starts `after_ms` after the stream's first tag: its configuration is held
/// back and sent just before its first media tag (a keyframe for video).
pub struct LateStart {
    pub track: TagType,
    pub after_ms: u32,
    first: Option<u32>,
    held: Option<Tag>,
    started: bool,
}

impl LateStart {
    pub fn new(track: TagType, after_ms: u32) -> LateStart {
        LateStart {
            track,
            after_ms,
            first: None,
            held: None,
            started: false,
        }
    }
}

impl Rule for LateStart {
    fn apply(&mut self, tag: Tag, out: &mut Vec<Out>) {
        let first = *self.first.get_or_insert(tag.timestamp);
        if tag.tag_type != self.track || self.started {
            out.push(Out::Tag(tag));
            return;
        }
        if is_config(&tag) {
            self.held = Some(tag);
            return;
        }
        let due = tag.timestamp >= first.saturating_add(self.after_ms);
        if !due || (self.track == TagType::Video && !is_keyframe(&tag)) {
            return;
        }
        self.started = true;
        if let Some(config) = self.held.take() {
            out.push(Out::Tag(Tag {
                timestamp: tag.timestamp,
                ..config
            }));
        }
        out.push(Out::Tag(tag));
    }
}

/// Timestamps shift at the first keyframe at or after each `every_ms` (or only the
/// first, when `once`): back to 0 (`to_zero`, a publisher restart, resending its
/// headers, optionally over a new connection) or forward by `by_ms`.
pub struct Jump {
    pub every_ms: u32,
    pub once: bool,
    pub kind: JumpKind,
    next_at: u32,
    offset: i64,
    /// The source timestamp the current timeline starts at: older tags are dropped.
    floor: u32,
    headers: Headers,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JumpKind {
    ToZero {
        reconnect: bool,
    },
    Forward {
        by_ms: u32,
    },
    /// Back by `by_ms`, with nothing resent: a publisher whose clock was set back.
    Back {
        by_ms: u32,
    },
}

impl Jump {
    pub fn new(every_ms: u32, once: bool, kind: JumpKind) -> Jump {
        Jump {
            every_ms,
            once,
            kind,
            next_at: every_ms,
            offset: 0,
            floor: 0,
            headers: Headers::default(),
        }
    }
}

impl Rule for Jump {
    fn apply(&mut self, tag: Tag, out: &mut Vec<Out>) {
        self.headers.note(&tag);
        if is_keyframe(&tag) && !is_config(&tag) && tag.timestamp >= self.next_at {
            self.next_at = if self.once {
                u32::MAX
            } else {
                tag.timestamp.saturating_add(self.every_ms)
            };
            self.floor = tag.timestamp;
            match self.kind {
                JumpKind::ToZero { reconnect } => {
                    self.offset = -i64::from(tag.timestamp);
                    if reconnect {
                        out.push(Out::Reconnect);
                    }
                    self.headers.emit(0, out);
                }
                JumpKind::Forward { by_ms } => self.offset += i64::from(by_ms),
                JumpKind::Back { by_ms } => self.offset -= i64::from(by_ms),
            }
        }
        if tag.timestamp < self.floor && !is_config(&tag) {
            return;
        }
        let ts = (i64::from(tag.timestamp) + self.offset).clamp(0, i64::from(u32::MAX));
        out.push(Out::Tag(Tag {
            timestamp: ts as u32,
            ..tag
        }));
    }
}

/// Every timestamp plus `start_ms`, wrapping at 2^32 as RTMP's do.
pub struct Offset {
    pub start_ms: u32,
}

impl Rule for Offset {
    fn apply(&mut self, tag: Tag, out: &mut Vec<Out>) {
        out.push(Out::Tag(Tag {
            timestamp: tag.timestamp.wrapping_add(self.start_ms),
            ..tag
        }));
    }
}

/// The sound lags its pictures by `by_ms`: each video tag (and the metadata) stamped that
/// much later, so the sound that arrives with a picture is from `by_ms` before it, as
/// from an encoder whose audio path has a delay nobody compensated.
pub struct SoundLags {
    pub by_ms: u32,
}

impl Rule for SoundLags {
    fn apply(&mut self, tag: Tag, out: &mut Vec<Out>) {
        let timestamp = match tag.tag_type {
            TagType::Audio => tag.timestamp,
            _ => tag.timestamp.wrapping_add(self.by_ms),
        };
        out.push(Out::Tag(Tag { timestamp, ..tag }));
    }
}

/// AVC/HEVC composition offsets shifted by `by_ms` negative, decode times by as much
/// later: the same presentation times, B-frames now with negative offsets.
pub struct NegativeCts {
    pub by_ms: i32,
}

impl Rule for NegativeCts {
    fn apply(&mut self, tag: Tag, out: &mut Vec<Out>) {
        if tag.tag_type != TagType::Video {
            out.push(Out::Tag(tag));
            return;
        }
        let timestamp = tag.timestamp.wrapping_add(self.by_ms as u32);
        let nalu = tag.data.len() >= 5 && tag.data[0] & 0x0f == 7 && tag.data[1] == 1;
        let data = if nalu {
            let cts = i32::from_be_bytes([0, tag.data[2], tag.data[3], tag.data[4]]);
            let cts = (cts << 8 >> 8) - self.by_ms;
            let mut data = BytesMut::from(&tag.data[..]);
            data[2..5].copy_from_slice(&cts.to_be_bytes()[1..]);
            data.freeze()
        } else {
            tag.data
        };
        out.push(Out::Tag(Tag {
            tag_type: tag.tag_type,
            timestamp,
            data,
        }));
    }
}

/// Every `audio_every`-th audio tag repeats the previous audio timestamp, every
/// `video_every`-th inter frame the previous video one: duplicate timestamps and
/// zero-duration frames.
pub struct Duplicates {
    pub audio_every: u32,
    pub video_every: u32,
    counts: [u32; 2],
    last: [Option<u32>; 2],
}

impl Duplicates {
    pub fn new(audio_every: u32, video_every: u32) -> Duplicates {
        Duplicates {
            audio_every,
            video_every,
            counts: [0; 2],
            last: [None; 2],
        }
    }
}

impl Rule for Duplicates {
    fn apply(&mut self, mut tag: Tag, out: &mut Vec<Out>) {
        let (i, every) = match tag.tag_type {
            TagType::Audio => (0, self.audio_every),
            TagType::Video => (1, self.video_every),
            TagType::Script => {
                out.push(Out::Tag(tag));
                return;
            }
        };
        if !is_config(&tag) && !is_keyframe(&tag) {
            self.counts[i] += 1;
            if let Some(last) = self.last[i].filter(|_| self.counts[i] % every.max(1) == 0) {
                tag.timestamp = last;
            }
            self.last[i] = Some(tag.timestamp);
        }
        out.push(Out::Tag(tag));
    }
}

/// The last `onMetaData` sent again every `every_ms` of stream time.
pub struct MetadataEvery {
    pub every_ms: u32,
    metadata: Option<Tag>,
    last: u32,
}

impl MetadataEvery {
    pub fn new(every_ms: u32) -> MetadataEvery {
        MetadataEvery {
            every_ms,
            metadata: None,
            last: 0,
        }
    }
}

impl Rule for MetadataEvery {
    fn apply(&mut self, tag: Tag, out: &mut Vec<Out>) {
        if tag.tag_type == TagType::Script {
            self.metadata = Some(tag.clone());
            self.last = tag.timestamp;
        } else if let Some(meta) = &self.metadata
            && tag.timestamp >= self.last.saturating_add(self.every_ms)
        {
            self.last = tag.timestamp;
            out.push(Out::Tag(Tag {
                timestamp: tag.timestamp,
                ..meta.clone()
            }));
        }
        out.push(Out::Tag(tag));
    }
}

/// Two live sources of different configurations (size, sample rate), switched every
/// `every_ms` at a keyframe of the next one, with its headers and its timestamps
/// rebased to continue the stream: a resolution or sample-rate change mid-stream.
pub struct Switch {
    pub every_ms: u32,
    active: usize,
    pending: Option<usize>,
    next_at: Option<u32>,
    offsets: [i64; 2],
    headers: [Headers; 2],
    last_video: u32,
    last_audio: u32,
    started: bool,
}

impl Switch {
    pub fn new(every_ms: u32) -> Switch {
        Switch {
            every_ms,
            active: 0,
            pending: None,
            next_at: None,
            offsets: [0; 2],
            headers: Default::default(),
            last_video: 0,
            last_audio: 0,
            started: false,
        }
    }

    /// A tag of source `source` (0 or 1).
    pub fn apply(&mut self, source: usize, tag: Tag, out: &mut Vec<Out>) {
        let source = source.min(1);
        self.headers[source].note(&tag);
        if source != self.active {
            if self.pending == Some(source) && is_keyframe(&tag) && !is_config(&tag) {
                let at = i64::from(self.last_video) + 40;
                self.offsets[source] = at - i64::from(tag.timestamp);
                self.active = source;
                self.pending = None;
                self.next_at = None;
                self.headers[source].emit(at as u32, out);
            } else {
                return;
            }
        }
        let next_at = *self
            .next_at
            .get_or_insert(tag.timestamp.saturating_add(self.every_ms));
        if tag.timestamp >= next_at && self.pending.is_none() {
            self.pending = Some(1 - source);
        }
        if is_config(&tag) || tag.tag_type == TagType::Script {
            // Sent with the switch, and before the first media tag.
            return;
        }
        let ts = (i64::from(tag.timestamp) + self.offsets[source]).max(0) as u32;
        match tag.tag_type {
            TagType::Audio if ts < self.last_audio => return,
            TagType::Audio => self.last_audio = ts,
            _ => self.last_video = self.last_video.max(ts),
        }
        if !self.started {
            self.started = true;
            self.headers[source].emit(ts, out);
        }
        out.push(Out::Tag(Tag {
            timestamp: ts,
            ..tag
        }));
    }
}

/// Builds a tag (tests, and the rules' own headers).
pub fn tag(tag_type: TagType, timestamp: u32, data: &[u8]) -> Tag {
    Tag {
        tag_type,
        timestamp,
        data: Bytes::copy_from_slice(data),
    }
}
