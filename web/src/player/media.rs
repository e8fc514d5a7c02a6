//! Media Source Extensions: one MediaSource on the `<video>`, one SourceBuffer
//! per track (the remuxer's PerTrack layout), and per SourceBuffer a queue of
//! operations applied one at a time, never while it is `updating`.
//!
//! SourceBuffers are created together: browsers refuse `addSourceBuffer` once
//! every existing one has its init segment, so a track that starts a little
//! later than the other would be lost. Media is held until every expected track
//! (FLV header flags, `onMetaData`) has its init, or for at most [`HOLD_MS`]. A
//! track whose init comes after that (audio that starts seconds after video, a
//! viewer who joined before the audio's sequence header), or a new codec its
//! SourceBuffer cannot take (a publisher back with MP3 for AAC: no `changeType` in
//! WebKitGTK), sets [`Media::rebuild`]: the player then
//! builds a new MediaSource with every track it can play, since the current one
//! cannot (a SourceBuffer left without media holds the other track back). A track
//! whose media stops while the other's goes on ([`TRACK_GONE_S`]) has its SourceBuffer
//! taken out of the MediaSource instead where the browser plays on without it
//! (Chromium), else it sets [`Media::rebuild`] too; its media coming back sets it then.

use alloc::borrow::ToOwned;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use flashless_core::fmp4::Track;
use js_sys::{Array, Function, Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{HtmlVideoElement, MediaSource, MediaSourceReadyState, SourceBuffer, Url};

use super::failure::Failure;
use super::handles::Listener;
use super::{Outbox, WeakCore, error, with};
use crate::js;

/// Longest a track is waited for before the SourceBuffers are created without it.
const HOLD_MS: f64 = 1000.0;
/// A track with a SourceBuffer that has had no media for this long while the other
/// went on is gone (a publisher back without video, a camera's pictures stopped): it
/// would hold the element where its media ends, so its SourceBuffer is removed (or a
/// new MediaSource built without it). Audio never lags this far: its holes are filled
/// with silence.
const TRACK_GONE_S: f64 = 3.0;
/// Bytes a SourceBuffer's queue may hold; past it, queued fragments are dropped.
const MAX_QUEUED_BYTES: usize = 16 << 20;
/// After a reconnect, media that starts further from the buffered end than this
/// is moved (with `timestampOffset`) to continue at the buffered end.
const REJOIN_AHEAD: f64 = 2.0;
const REJOIN_BEHIND: f64 = 12.0;
/// Once the GOP is known, further behind than a GOP and this is another timeline.
const REJOIN_GOP_MARGIN: f64 = 0.5;
/// Where the first media of a MediaSource begins at the earliest, on the `<video>`'s
/// timeline (s): well away from the element's initial position, 0. WebKitGTK's media
/// backend (GStreamer, as in WPE) can deadlock the page for good in the start seek's
/// flush, its main thread pushing the flush while a `webkitmediasrc` thread waits for
/// the main thread: 1 start in 27 hung with a fresh publish's media from 0 (video at 0,
/// audio a frame later); with it a second on, 13 of 18 pages opened the moment the
/// demo went live hung or failed to decode; with it 10 s on, none of 22.
const FIRST_MEDIA_AT: f64 = 10.0;

enum Op {
    /// Bytes in wasm memory: they go to `appendBuffer` as a view, which it copies
    /// at once, so no JS array is made per fragment.
    Append {
        data: Vec<u8>,
        fragment: bool,
    },
    Remove(f64, f64),
    ChangeType(String),
    Offset(f64),
}

struct Buffer {
    track: Track,
    mime: Option<String>,
    codec: String,
    sb: Option<SourceBuffer>,
    queue: VecDeque<Op>,
    queued_bytes: usize,
    /// Unsupported by the browser or refused: its media is dropped.
    disabled: bool,
    /// Its SourceBuffer was taken out of the MediaSource (the track went): its media
    /// back needs a new MediaSource, as a late track's does.
    removed: bool,
    /// After dropped fragments video resumes at a keyframe.
    skip_to_keyframe: bool,
    queued_offset: f64,
    quota_retries: u32,
    /// MP3 fed as an MPEG audio byte stream (`audio/mpeg`): browsers that play
    /// MP3 in MSE but not in MP4 (Chromium without proprietary codecs in MP4).
    raw_mp3: bool,
    /// End of its newest media queued, on the `<video>`'s timeline (s); NaN before any.
    end: f64,
    _listeners: Vec<Listener>,
}

pub struct Media {
    source: MediaSource,
    /// `MediaSource` or `ManagedMediaSource`: has `isTypeSupported`.
    constructor: JsValue,
    object_url: String,
    open: bool,
    expect: [bool; 2],
    buffers: [Buffer; 2],
    attached: bool,
    /// Where the first media queued begins, on the element's timeline (ms, as
    /// `newest_end`): the hold ([`HOLD_MS`]) runs from there.
    held_from_ms: Option<f64>,
    /// `timestampOffset` for the media of the current connection.
    offset: f64,
    /// The first fragment was placed (see [`FIRST_MEDIA_AT`]).
    placed: bool,
    /// After a rejoin: the next fragment checks `offset` against the buffered end.
    pub check_offset: bool,
    /// The connection's last video keyframe (stream ms) and the time between the last
    /// two (s): how far behind a reconnect to the same server may start.
    last_keyframe_ms: Option<f64>,
    gop_s: Option<f64>,
    /// End of the newest media queued, on the `<video>`'s timeline (s).
    pub newest_end: f64,
    /// This MediaSource cannot play what came: a track's init after the SourceBuffers
    /// were created without it, a new codec its SourceBuffer cannot take, or a track
    /// gone where its SourceBuffer cannot be removed.
    pub rebuild: bool,
    /// A track gone, whose SourceBuffer [`Media::remove_gone`] takes out.
    pub gone: Option<Track>,
    /// The browser plays on in a MediaSource a SourceBuffer was removed from, as
    /// Chromium does. Firefox fails its next seek ("manager is detached"), and WebKitGTK
    /// keeps the removed track's end in the element's buffered ranges, holding it there.
    removes_buffers: bool,
    /// Why a SourceBuffer cannot take its new codec, said if no new MediaSource is
    /// built after all (one that is says it itself, where it still applies).
    unplayable: Option<Failure>,
    _listeners: Vec<Listener>,
}

impl Media {
    pub fn new(video: &HtmlVideoElement, core: WeakCore) -> Result<Media, JsValue> {
        let global = js_sys::global();
        let has = |name: &str| {
            Reflect::get(&global, &JsValue::from_str(name))
                .ok()
                .filter(|c| c.is_function())
        };
        let (constructor, source) = if let Some(c) = has("MediaSource") {
            (c, MediaSource::new()?)
        } else if let Some(c) = has("ManagedMediaSource") {
            // Safari on iOS: the same interface; it wants remote playback off or an AirPlay source.
            let _ = Reflect::set(video, &"disableRemotePlayback".into(), &JsValue::TRUE);
            let source = Reflect::construct(c.unchecked_ref::<Function>(), &Array::new())?;
            (c, source.unchecked_into())
        } else {
            return Err(JsValue::from_str("no-mse"));
        };
        let object_url = Url::create_object_url_with_source(&source)?;
        let weak = core.clone();
        let on_open = Listener::new(&source, "sourceopen", move |_| {
            with(&weak, |c| c.on_open());
        });
        // Closed while in use, not by `destroy` (which drops this listener first):
        // the browser gave up on it.
        let on_close = Listener::new(&source, "sourceclose", move |_| {
            with(&core, |c| c.on_media_failed("media-source"));
        });
        video.set_src(&object_url);
        Ok(Media {
            source,
            constructor,
            object_url,
            open: false,
            expect: [true, true],
            buffers: [Buffer::new(Track::Video), Buffer::new(Track::Audio)],
            attached: false,
            held_from_ms: None,
            offset: 0.0,
            placed: false,
            check_offset: false,
            last_keyframe_ms: None,
            gop_s: None,
            newest_end: f64::NAN,
            rebuild: false,
            gone: None,
            removes_buffers: js::user_agent_has(b"Chrome/"),
            unplayable: None,
            _listeners: vec![on_open, on_close],
        })
    }

    pub fn set_open(&mut self) {
        self.open = self.source.ready_state() == MediaSourceReadyState::Open;
    }

    /// Which tracks to wait for: from the FLV header, when it says anything.
    pub fn expect(&mut self, video: bool, audio: bool) {
        if video || audio {
            self.expect = [video, audio];
        }
    }

    /// `onMetaData` may say a track is absent (`hasAudio: false`).
    pub fn expect_from_metadata(&mut self, meta: &flashless_core::amf::Value) {
        for (i, key) in ["hasVideo", "hasAudio"].into_iter().enumerate() {
            if let Some(has) = meta.get(key).and_then(flashless_core::amf::Value::as_bool) {
                self.expect[i] = has;
            }
        }
    }

    /// Where the media is placed on the element's timeline, once it is.
    pub fn placement(&self) -> Option<f64> {
        self.placed.then_some(self.offset)
    }

    /// The same stream again on a new MediaSource: placed as it was, so that the
    /// element's position goes on from where it was rather than back; in whole
    /// seconds, as a first placement is (a reconnect's may not be), for the start
    /// seek's sake (see [`FIRST_MEDIA_AT`]).
    pub fn place_as(&mut self, offset: f64) {
        self.offset = libm::ceil(offset);
        self.placed = true;
    }

    /// A new connection: its media is placed after what is buffered, if it
    /// does not fit there by itself.
    pub fn rejoin(&mut self) {
        self.check_offset = true;
        // The next connection's timestamps may be of another timeline.
        self.last_keyframe_ms = None;
    }

    /// The codecs strings of the playing tracks, video first.
    pub fn codecs(&self) -> Array {
        self.buffers
            .iter()
            .filter(|b| b.mime.is_some() && !b.disabled && !b.removed)
            .map(|b| JsValue::from_str(&b.codec))
            .collect()
    }

    pub fn init(
        &mut self,
        track: Track,
        mime: &str,
        codec: &str,
        data: &[u8],
        core: &WeakCore,
        out: &mut Outbox,
    ) {
        // MP3 goes as the remuxer names it (`mp4a.6B`), else as Firefox names MP3 in MP4,
        // else as an MPEG audio byte stream (Chromium).
        let mp3 = is_mp3(codec);
        let (mime, supported, raw_mp3) = if self.is_type_supported(mime) {
            (mime, true, false)
        } else if mp3 && self.is_type_supported(MP3_IN_MP4) {
            (MP3_IN_MP4, true, false)
        } else if mp3 && self.is_type_supported(MPEG_AUDIO) {
            (MPEG_AUDIO, true, true)
        } else {
            (mime, false, false)
        };
        let b = &mut self.buffers[index(track)];
        b.raw_mp3 = raw_mp3;
        if b.mime.as_deref() == Some(mime) && b.disabled {
            return;
        }
        let changed = b.mime.as_deref() != Some(mime);
        if !supported {
            b.disable(mime);
            let failure = Failure::media("codec-unsupported", Some(track)).codec(codec);
            return self.cannot_take(track, failure.reason(mime), out);
        }
        if let Some(sb) = &b.sb {
            // Another profile or level of the same codec (a new resolution) is only a new
            // init segment for the same SourceBuffer, as adaptive players switch
            // renditions: no `changeType`, which not every browser has (WebKitGTK).
            if changed && !same_codec(&b.codec, codec) {
                if Reflect::has(sb, &"changeType".into()).unwrap_or(false) {
                    b.queue.push_back(Op::ChangeType(mime.to_owned()));
                } else {
                    b.disable(mime);
                    let failure = Failure::media("codec-change", Some(track)).codec(codec);
                    return self.cannot_take(track, failure.reason(mime), out);
                }
            }
        }
        b.disabled = false;
        b.mime = Some(mime.to_owned());
        b.codec = codec.to_owned();
        if !raw_mp3 {
            b.queue.push_back(Op::Append {
                data: data.to_vec(),
                fragment: false,
            });
        }
        if self.attached && self.buffers[index(track)].sb.is_none() {
            // Refused once the other track has its init: a new MediaSource it takes.
            let others = self.buffers.iter().any(|b| b.sb.is_some());
            if others && !self.rebuild {
                self.rebuild = true;
            } else {
                self.add_source_buffer(index(track), core, out);
            }
        }
        if changed {
            out.push(("codecs", self.codecs().into()));
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn fragment(
        &mut self,
        track: Track,
        data: &[u8],
        start_ms: f64,
        end_ms: f64,
        keyframe: bool,
        buffered_end: Option<f64>,
        out: &mut Outbox,
    ) {
        if !self.placed {
            self.placed = true;
            // Whole seconds: the media's timestamps keep their precision. (With an
            // offset of 0.977006… s, WebKitGTK hung at the start seek every time.)
            self.offset = libm::ceil(FIRST_MEDIA_AT - start_ms / 1000.0).max(0.0);
        }
        if self.check_offset {
            self.check_offset = false;
            if let Some(end) = buffered_end {
                let start = start_ms / 1000.0 + self.offset;
                if !rejoins_in_place(start, end, self.gop_s) {
                    self.offset = end - start_ms / 1000.0;
                }
            }
        }
        if track == Track::Video && keyframe {
            if let Some(last) = self.last_keyframe_ms.filter(|&l| start_ms > l) {
                self.gop_s = Some((start_ms - last) / 1000.0);
            }
            self.last_keyframe_ms = Some(start_ms);
        }
        let offset = self.offset;
        let b = &mut self.buffers[index(track)];
        if b.disabled || b.mime.is_none() {
            return;
        }
        if b.removed {
            // The track that went is back.
            self.rebuild = true;
            return;
        }
        if b.skip_to_keyframe {
            if !keyframe {
                return;
            }
            b.skip_to_keyframe = false;
        }
        let data = if b.raw_mp3 {
            // The byte stream has no timestamps: each append is placed by timestampOffset.
            let Some(frames) = mdat_payload(data) else {
                return;
            };
            b.queue.push_back(Op::Offset(start_ms / 1000.0 + offset));
            frames
        } else {
            if b.queued_offset != offset {
                b.queued_offset = offset;
                b.queue.push_back(Op::Offset(offset));
            }
            data
        };
        b.queue.push_back(Op::Append {
            data: data.to_vec(),
            fragment: true,
        });
        b.queued_bytes += data.len();
        if b.queued_bytes > MAX_QUEUED_BYTES {
            b.drop_fragments();
            error(out, Failure::media("buffer-overflow", Some(track)));
        }
        let end = end_ms / 1000.0 + offset;
        b.end = end;
        if self.newest_end.is_nan() || end > self.newest_end {
            self.newest_end = end;
        }
        let from_ms = *self.held_from_ms.get_or_insert(start_ms + offset * 1000.0);
        let other = &self.buffers[1 - index(track)];
        let other_end = if other.end.is_nan() {
            from_ms / 1000.0
        } else {
            other.end
        };
        if other.sb.is_some() && !other.disabled && end - other_end > TRACK_GONE_S {
            self.gone = Some(other.track);
        }
    }

    /// Creates the SourceBuffers once the MediaSource is open and every expected
    /// track is known, or the hold ran out.
    pub fn attach_when_ready(&mut self, now_newest_ms: f64, core: &WeakCore, out: &mut Outbox) {
        if self.attached || !self.open {
            return;
        }
        let any = self.buffers.iter().any(|b| b.mime.is_some() && !b.disabled);
        let ready = (0..2).all(|i| !self.expect[i] || self.buffers[i].mime.is_some());
        let held = self
            .held_from_ms
            .is_some_and(|from| now_newest_ms - from >= HOLD_MS);
        if !any || !(ready || held) {
            return;
        }
        self.attached = true;
        for i in 0..2 {
            if self.buffers[i].mime.is_some() && !self.buffers[i].disabled {
                self.add_source_buffer(i, core, out);
            }
        }
    }

    /// A track's SourceBuffer cannot take its new codec (its media is dropped): where
    /// one exists, a new MediaSource, which the failure waits for; else, the failure.
    fn cannot_take(&mut self, track: Track, failure: Failure, out: &mut Outbox) {
        if self.buffers[index(track)].sb.is_some() {
            self.rebuild = true;
            self.unplayable = Some(failure);
        } else {
            error(out, failure);
        }
    }

    /// Takes the SourceBuffer of the track that went out of the MediaSource, so that
    /// the other plays on in it; false where that is not done ([`Media::removes_buffers`])
    /// or fails, and a new MediaSource is needed after all.
    pub fn remove_gone(&mut self) -> bool {
        let Some(track) = self.gone.take() else {
            return true;
        };
        let b = &mut self.buffers[index(track)];
        let Some(sb) = b.sb.as_ref().filter(|_| self.removes_buffers) else {
            return false;
        };
        if self.source.remove_source_buffer(sb).is_err() {
            return false;
        }
        b.sb = None;
        b.removed = true;
        b.queue.clear();
        b.queued_bytes = 0;
        b._listeners.clear();
        true
    }

    /// No new MediaSource yet (one waits its turn): meanwhile a late track's media is
    /// dropped, and a track that cannot take its new codec says so.
    pub fn keep(&mut self, out: &mut Outbox) {
        self.rebuild = false;
        if let Some(failure) = self.unplayable.take() {
            error(out, failure);
        }
        for b in &mut self.buffers {
            if b.sb.is_none() && !b.disabled {
                if let Some(mime) = b.mime.clone() {
                    b.disable(&mime);
                }
            }
        }
    }

    pub fn attached(&self) -> bool {
        self.attached
    }

    /// Everything received is in the SourceBuffers: none has queued or running work.
    pub fn settled(&self) -> bool {
        self.attached
            && self
                .buffers
                .iter()
                .all(|b| b.queue.is_empty() && b.sb.as_ref().is_none_or(|sb| !sb.updating()))
    }

    /// Each SourceBuffer's `buffered`: a seek lands only where all of them have media.
    pub fn track_ranges(&self) -> Vec<Vec<(f64, f64)>> {
        self.buffers
            .iter()
            .filter_map(|b| b.sb.as_ref()?.buffered().ok())
            .map(|r| js::ranges(&r))
            .collect()
    }

    /// Queues removal of media before `before` on every SourceBuffer.
    pub fn trim(&mut self, before: f64) {
        for b in self.buffers.iter_mut().filter(|b| b.sb.is_some()) {
            if !b.queue.iter().any(|op| matches!(op, Op::Remove(..))) {
                b.queue.push_back(Op::Remove(0.0, before));
            }
        }
    }

    /// Starts the next queued operation on every SourceBuffer that is idle.
    pub fn pump(&mut self, video: &HtmlVideoElement, out: &mut Outbox) {
        for b in &mut self.buffers {
            b.pump(video, out);
        }
    }

    pub fn destroy(&mut self, video: &HtmlVideoElement) {
        self._listeners.clear();
        for b in &mut self.buffers {
            b._listeners.clear();
            b.queue.clear();
            if let Some(sb) = b.sb.take() {
                if self.source.ready_state() == MediaSourceReadyState::Open {
                    let _ = sb.abort();
                }
            }
        }
        let _ = Url::revoke_object_url(&self.object_url);
        let _ = video.remove_attribute("src");
        video.load();
    }

    fn is_type_supported(&self, mime: &str) -> bool {
        Reflect::get(&self.constructor, &"isTypeSupported".into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
            .and_then(|f| f.call1(&self.constructor, &mime.into()).ok())
            .and_then(|r| r.as_bool())
            .unwrap_or(false)
    }

    fn add_source_buffer(&mut self, i: usize, core: &WeakCore, out: &mut Outbox) {
        let b = &mut self.buffers[i];
        let Some(mime) = b.mime.clone() else { return };
        match self.source.add_source_buffer(&mime) {
            Ok(sb) => {
                let weak = core.clone();
                let on_end = Listener::new(&sb, "updateend", move |_| {
                    with(&weak, |c| c.on_updateend());
                });
                let weak = core.clone();
                let track = b.track;
                let on_error = Listener::new(&sb, "error", move |_| {
                    with(&weak, |c| {
                        error(c.outbox(), Failure::media("append", Some(track)))
                    });
                });
                b._listeners = vec![on_end, on_error];
                b.sb = Some(sb);
            }
            Err(e) => {
                b.disable(&mime);
                let failure = Failure::media("source-buffer", Some(b.track)).codec(&b.codec);
                error(out, failure.reason(js::describe(&e)));
            }
        }
    }
}

impl Buffer {
    fn new(track: Track) -> Buffer {
        Buffer {
            track,
            mime: None,
            codec: String::new(),
            sb: None,
            queue: VecDeque::new(),
            queued_bytes: 0,
            disabled: false,
            removed: false,
            skip_to_keyframe: false,
            queued_offset: 0.0,
            quota_retries: 0,
            raw_mp3: false,
            end: f64::NAN,
            _listeners: Vec::new(),
        }
    }

    fn disable(&mut self, mime: &str) {
        self.disabled = true;
        self.mime = Some(mime.to_owned());
        self.queue.clear();
        self.queued_bytes = 0;
    }

    fn drop_fragments(&mut self) {
        self.queue
            .retain(|op| !matches!(op, Op::Append { fragment: true, .. }));
        self.queued_bytes = 0;
        self.skip_to_keyframe = self.track == Track::Video;
    }

    /// `first` and the fragments queued right behind it, in one array: one
    /// SourceBuffer update for all (a SourceBuffer takes any number of `moof` +
    /// `mdat` pairs at once), instead of one update, and one event loop turn, per
    /// frame. That matters for the burst of the server's cached GOP at the start.
    fn take_following(&mut self, mut first: Vec<u8>) -> Vec<u8> {
        while let Some(Op::Append {
            fragment: true,
            data,
        }) = self.queue.front()
        {
            first.extend_from_slice(data);
            self.queue.pop_front();
        }
        first
    }

    /// `video` is read only when an append finds the buffer full: this runs after
    /// every append, and `currentTime` is not free. With nothing queued (after most
    /// appends' ends, at most ticks) it makes no call into the page at all: each
    /// SourceBuffer handle cloned and `updating` read were a round trip out of the wasm.
    fn pump(&mut self, video: &HtmlVideoElement, out: &mut Outbox) {
        if self.queue.is_empty() {
            return;
        }
        let Some(sb) = self.sb.clone() else { return };
        while !sb.updating() {
            let Some(op) = self.queue.pop_front() else {
                return;
            };
            match op {
                Op::Append { data, fragment } => {
                    let data = if fragment {
                        self.take_following(data)
                    } else {
                        data
                    };
                    if fragment {
                        self.queued_bytes = self.queued_bytes.saturating_sub(data.len());
                    }
                    // SAFETY: the view is of `data` in wasm memory, which nothing
                    // allocates into between here and the call; `appendBuffer` copies
                    // the bytes before it returns (MSE: they go to the input buffer).
                    let view = unsafe { Uint8Array::view(&data) };
                    match sb.append_buffer_with_array_buffer_view(&view) {
                        Ok(()) => {
                            self.quota_retries = 0;
                            return;
                        }
                        Err(e)
                            if is_quota(&e)
                                && self.quota_retries < 3
                                && video.current_time() > 1.0 =>
                        {
                            // Full: free what lies behind the playhead, then try again.
                            let current = video.current_time();
                            self.quota_retries += 1;
                            if fragment {
                                self.queued_bytes += data.len();
                            }
                            self.queue.push_front(Op::Append { data, fragment });
                            self.queue.push_front(Op::Remove(0.0, current - 1.0));
                        }
                        Err(e) => {
                            let details = if is_quota(&e) { "quota" } else { "append" };
                            let failure = Failure::media(details, Some(self.track));
                            error(out, failure.reason(js::describe(&e)));
                            return;
                        }
                    }
                }
                Op::Remove(from, to) => {
                    if to > from && sb.remove(from, to).is_ok() {
                        return;
                    }
                }
                Op::ChangeType(mime) => {
                    if let Err(e) = sb.change_type(&mime) {
                        let failure = Failure::media("codec-change", Some(self.track));
                        error(out, failure.reason(mime + ": " + &js::describe(&e)));
                    }
                }
                Op::Offset(offset) => sb.set_timestamp_offset(offset),
            }
        }
    }
}

const MPEG_AUDIO: &str = "audio/mpeg";
/// MP3 in MP4 as Firefox names it: it says no to `mp4a.6B`, `mp4a.69` and `mp4a.40.34`.
const MP3_IN_MP4: &str = "audio/mp4; codecs=\"mp3\"";

/// Whether two codec strings name the same codec, whatever its profile and level: the
/// same sample entry (`avc1`, `hvc1`, `vp09`, `av01`, …), and for `mp4a` the same
/// object type (AAC `40`, MP3 `6b`/`69`).
fn same_codec(a: &str, b: &str) -> bool {
    /// Up to the first `.`, or the second one after `mp4a`.
    fn key(codec: &str) -> &[u8] {
        let bytes = codec.as_bytes();
        let mp4a = bytes
            .get(..4)
            .is_some_and(|e| e.eq_ignore_ascii_case(b"mp4a"));
        let mut dots = bytes.iter().enumerate().filter(|&(_, &c)| c == b'.');
        let end = dots.nth(usize::from(mp4a)).map_or(bytes.len(), |(i, _)| i);
        bytes.get(..end).unwrap_or(bytes)
    }
    key(a).eq_ignore_ascii_case(key(b))
}

/// MP3 in MP4: object type 0x6B (MPEG-1 audio) or 0x69 (MPEG-2 audio).
fn is_mp3(codec: &str) -> bool {
    codec.eq_ignore_ascii_case("mp4a.6b") || codec.eq_ignore_ascii_case("mp4a.69")
}

/// The payload of the `mdat` after the `moof` of one of the remuxer's fragments.
fn mdat_payload(fragment: &[u8]) -> Option<&[u8]> {
    let mut at = 0usize;
    while at + 8 <= fragment.len() {
        let size32 = u32::from_be_bytes(fragment[at..at + 4].try_into().ok()?);
        let (size, header) = match size32 {
            1 => {
                let large = fragment.get(at + 8..at + 16)?;
                (
                    usize::try_from(u64::from_be_bytes(large.try_into().ok()?)).ok()?,
                    16,
                )
            }
            0 => (fragment.len() - at, 8),
            n => (n as usize, 8),
        };
        let end = at
            .checked_add(size)
            .filter(|&e| e <= fragment.len() && size >= header)?;
        if &fragment[at + 4..at + 8] == b"mdat" {
            return Some(&fragment[at + header..end]);
        }
        at = end;
    }
    None
}

fn is_quota(e: &JsValue) -> bool {
    js::get(e, "name").as_string().as_deref() == Some("QuotaExceededError")
}

/// Whether a reconnection's first media, starting at `start` on the `<video>`'s
/// timeline, stays where it is against the buffered `end`: the same server's timeline
/// goes on, its start-up burst beginning at most a GOP back (the GOP since its last
/// keyframe). Further back (another gateway behind the balancer, whose timeline began
/// when it started pulling the channel) or far ahead, it is moved to continue at `end`.
fn rejoins_in_place(start: f64, end: f64, gop_s: Option<f64>) -> bool {
    let behind = gop_s.map_or(REJOIN_BEHIND, |g| {
        (g + REJOIN_GOP_MARGIN).min(REJOIN_BEHIND)
    });
    start <= end + REJOIN_AHEAD && start >= end - behind
}

fn index(track: Track) -> usize {
    match track {
        Track::Video => 0,
        Track::Audio => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::{mdat_payload, rejoins_in_place, same_codec};

    #[test]
    fn a_new_profile_or_level_is_the_same_codec_another_codec_is_not() {
        // A resolution change: Baseline 1.2 → 2.1, or to High.
        assert!(same_codec("avc1.42c00c", "avc1.42c015"));
        assert!(same_codec("avc1.42c00c", "avc1.640028"));
        assert!(same_codec("hvc1.1.6.L93.B0", "hvc1.1.6.L120.B0"));
        // AAC-LC and HE-AAC are one decoder; MP3 in MP4 is another.
        assert!(same_codec("mp4a.40.2", "mp4a.40.5"));
        assert!(!same_codec("mp4a.40.2", "mp4a.6b"));
        assert!(same_codec("mp4a.6B", "mp4a.6b"));
        // Another sample entry: `changeType`.
        assert!(!same_codec("avc1.42c00c", "avc3.42c00c"));
        assert!(!same_codec("avc1.640028", "hvc1.1.6.L93.B0"));
        assert!(!same_codec("opus", "flac"));
        assert!(same_codec("opus", "opus"));
        assert!(!same_codec("", "avc1.42c00c"), "no codec before");
    }

    #[test]
    fn a_rejoin_stays_within_a_gop_back_and_moves_from_another_timeline() {
        // The same server: its burst starts at its last keyframe, within a GOP.
        assert!(rejoins_in_place(9.2, 10.0, Some(1.0)));
        assert!(rejoins_in_place(11.0, 10.0, Some(1.0)));
        // Another edge's timeline, 5 s behind: moved to continue at the end.
        assert!(!rejoins_in_place(5.0, 10.0, Some(1.0)));
        // GOP unknown (audio only): the old 12 s window.
        assert!(rejoins_in_place(5.0, 10.0, None));
        assert!(!rejoins_in_place(-3.0, 10.0, None));
        // Far ahead: moved back.
        assert!(!rejoins_in_place(13.0, 10.0, Some(1.0)));
        // Long GOPs keep the window, capped at 12 s.
        assert!(rejoins_in_place(1.0, 10.0, Some(20.0)));
        assert!(!rejoins_in_place(-3.0, 10.0, Some(20.0)));
    }

    #[test]
    fn finds_the_mdat_payload_after_the_moof() {
        let mut f = vec![0, 0, 0, 12];
        f.extend_from_slice(b"moof\x01\x02\x03\x04");
        f.extend_from_slice(&[0, 0, 0, 11]);
        f.extend_from_slice(b"mdat\xff\xfb\x90");
        assert_eq!(mdat_payload(&f), Some(&[0xff, 0xfb, 0x90][..]));
        assert_eq!(mdat_payload(&f[..20]), None, "truncated");
        assert_eq!(
            mdat_payload(&[0, 0, 0, 3, b'm', b'o', b'o', b'f']),
            None,
            "size below its header"
        );
    }
}
