//! `Player` for JS: a live FLV stream (WebSocket or fetch) → the remuxer → MSE on
//! a `<video>`, held near the live edge, recovering from stalls, hidden tabs and
//! dropped connections without a reload.
//!
//! With the `samples` option it only connects and remuxes, for the WebCodecs
//! renderer (`pkg/webcodecs.js`): no MediaSource; each read's decoder
//! configurations and coded frames go to the page as one `samples` event, and a
//! `restart` event says a new connection's remuxer starts afresh. Connecting,
//! retrying, errors and the stream's own events are the same for both renderers.
//!
//! All state is in one `Core` behind `Rc<RefCell<…>>`; every DOM callback holds a
//! `Weak` to it and goes through [`with`], which collects the events to emit and
//! calls the page's handler only after the borrow ends, so a handler may call
//! `stats()` or `destroy()`.

mod failure;
mod handles;
mod media;
mod retry;
mod transport;

use alloc::collections::VecDeque;
use alloc::rc::{Rc, Weak};
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

use flashless_core::fmp4::{FillAhead, Fragmenting, Layout, RemuxEvent, RemuxerOptions};
use flashless_core::live_edge::{self, LiveEdge, Seek, Snapshot};
use flashless_core::pipeline::{Output, Pipeline};
use flashless_core::stream::Bucket;
use js_sys::{Function, Object};
use wasm_bindgen::prelude::*;
use web_sys::{Document, HtmlVideoElement, WebSocket};

use self::failure::Failure;
use self::handles::{Listener, Presented, Timer};
use self::media::Media;
use self::retry::Retry;
use self::transport::{Kind, Request, Transport};
use crate::js::{self, set};

type Outbox = Vec<(&'static str, JsValue)>;
type WeakCore = Weak<RefCell<Core>>;

const TICK_MS: i32 = 250;
/// `HTMLMediaElement.HAVE_FUTURE_DATA`: below it the element waits.
const HAVE_FUTURE_DATA: u16 = 3;
/// The first media is placed at the live edge once all of it is appended and the
/// server's start burst (its cached GOP) is in: the connection was quiet for this
/// long, or brought no more media than the time that passed (live pace, give or
/// take [`START_PACE_SLACK_MS`]); checked this often, not at the next tick …
const START_QUIET_MS: f64 = 15.0;
/// A live stream's frame and its sound can come at once; a burst brings far more.
const START_PACE_SLACK_MS: f64 = 25.0;
/// … or this long after the first media, if the burst goes on.
const START_MAX_MS: f64 = 200.0;
const TICKS_PER_STATS: u32 = 4;
/// A connection that delivers nothing for this long is replaced.
const IDLE_MS: f64 = 20_000.0;
/// A second media error this soon after the MediaSource was rebuilt for one is fatal.
const MEDIA_RETRY_WINDOW_MS: f64 = 30_000.0;
/// Per-tag remuxer errors reported per connection; more are only counted.
const MAX_TAG_ERRORS: u32 = 20;
/// New MediaSources built for a track that came late or went, or a codec change: this
/// many at once, then one every [`REBUILD_EVERY_MS`] (a source that flaps). One past
/// that waits its turn, the current MediaSource kept meanwhile; it is not dropped, or
/// a track that came back would stay left out.
const REBUILDS_AT_ONCE: u64 = 3;
const REBUILD_EVERY_MS: u64 = 20_000;

/// The MSE player, or with `samples` the WebCodecs renderer's connection. Build it
/// with `Player.create` from `flashless.js`.
#[wasm_bindgen]
pub struct Player {
    core: Rc<RefCell<Core>>,
}

#[wasm_bindgen]
impl Player {
    /// `options`: `{ url, liveLatency?, maxRate?, jumpBehind?, backBuffer?, autoplay?,
    /// retry?, headers?, withCredentials?, samples? }`; `on_event(name, detail)` receives
    /// every event. Throws a code (`flashless.js` makes it an `Error`).
    // Each option left out takes `live_edge::Options::default()`'s value (the doc
    // comments above are shipped in the JS glue, so they stay short).
    #[wasm_bindgen(constructor)]
    pub fn new(
        video: HtmlVideoElement,
        options: JsValue,
        on_event: Function,
    ) -> Result<Player, JsValue> {
        let url = js::get(&options, "url")
            .as_string()
            .ok_or_else(|| JsValue::from_str("no-url"))?;
        let kind = Kind::of(&url).ok_or_else(|| JsValue::from_str("invalid-url"))?;
        let number = |key: &str, default: f64, min: f64, max: f64| {
            js::get(&options, key)
                .as_f64()
                .filter(|v| v.is_finite())
                .map_or(default, |v| v.max(min).min(max))
        };
        // The defaults are the live-edge policy's own, set in one place.
        let defaults = live_edge::Options::default();
        let target = number("liveLatency", defaults.target, 0.1, 30.0);
        let edge = live_edge::Options {
            target,
            max_rate: number("maxRate", defaults.max_rate, 1.0, 1.5),
            jump_behind: number(
                "jumpBehind",
                defaults.jump_behind.max(target * 2.0),
                target + 1.0,
                120.0,
            ),
            back_buffer: number("backBuffer", defaults.back_buffer, 2.0, 600.0),
        };
        let autoplay = js::get(&options, "autoplay").as_bool() != Some(false);
        let request = Request {
            headers: js::get(&options, "headers"),
            with_credentials: js::get(&options, "withCredentials").as_bool() == Some(true),
        };
        let retry = Retry::from_option(&js::get(&options, "retry"));
        let early_socket = js::get(&options, "socket").dyn_into::<WebSocket>().ok();
        let samples = js::get(&options, "samples").as_bool() == Some(true);
        let document = web_sys::window()
            .and_then(|w| w.document())
            .ok_or_else(|| JsValue::from_str("no-document"))?;
        let core = Rc::new_cyclic(|me: &WeakCore| {
            RefCell::new(Core::new(
                video,
                (url, kind, request, retry),
                edge,
                (autoplay, samples),
                on_event,
                me.clone(),
            ))
        });
        let weak = Rc::downgrade(&core);
        {
            let mut c = core.borrow_mut();
            if !samples {
                c.media = Some(Media::new(&c.video, weak.clone())?);
                c.listeners.push(visibility(&document, weak.clone()));
                let on_waiting = waiting(&c.video, weak.clone());
                c.listeners.push(on_waiting);
                let on_seeked = seeked(&c.video, weak.clone());
                c.listeners.push(on_seeked);
                let on_error = media_error(&c.video, weak.clone());
                c.listeners.push(on_error);
                c.presented = Presented::new(&c.video);
            }
            c.tick_timer = Timer::interval(TICK_MS, move || with(&weak, Core::tick));
            c.early_socket = early_socket.filter(|_| c.kind == Kind::WebSocket);
            c.connect();
        }
        Ok(Player { core })
    }

    /// `{ latency, buffered, bitrate, fps, decodedFrames, droppedFrames, codecs, reconnects, … }`.
    pub fn stats(&self) -> Object {
        match self.core.try_borrow() {
            Ok(c) => c.stats(),
            Err(_) => Object::new(),
        }
    }

    /// Seeks to the live edge now, as after a hidden tab.
    // Before the first media there is nothing to jump to: the player starts at the edge anyway.
    #[wasm_bindgen(js_name = jumpToLive)]
    pub fn jump_to_live(&self) {
        with(&Rc::downgrade(&self.core), |c| {
            if c.edge.started() {
                c.edge.go_live();
                c.tick();
            }
        });
    }

    /// Plays another stream (`ws(s)://` or `http(s)://`) in the same `<video>`;
    /// throws `invalid-url`.
    pub fn load(&self, url: String) -> Result<(), JsValue> {
        let kind = Kind::of(&url).ok_or_else(|| JsValue::from_str("invalid-url"))?;
        let mut result = Ok(());
        with(&Rc::downgrade(&self.core), |c| {
            c.url = url;
            c.kind = kind;
            result = c.reload();
        });
        result
    }

    /// Stops loading and detaches the stream; the `<video>` and the player stay for `load`.
    pub fn unload(&self) {
        with(&Rc::downgrade(&self.core), Core::unload);
    }

    /// Stops the stream, detaches from the `<video>`, releases every listener and timer.
    pub fn destroy(&self) {
        if let Ok(mut c) = self.core.try_borrow_mut() {
            c.destroy();
        }
    }
}

/// The remuxer for MSE (`samples` false) with `target` seconds of latency: silence
/// is added to missing audio before the playhead can reach the audio's end, since
/// the element plays only where every track has media; missing H.264 video goes on
/// with pictures that repeat its last one; other codecs' hold their last picture in
/// Chromium only (Firefox waits for more video all the same, and a long picture
/// holds up those after it there; WebKitGTK ends each picture a frame interval
/// after it starts: `docs/reliability.md`). For WebCodecs, samples.
fn remuxer_options(target: f64, samples: bool) -> RemuxerOptions {
    if samples {
        return RemuxerOptions {
            layout: Layout::Samples,
            ..RemuxerOptions::default()
        };
    }
    RemuxerOptions {
        fill_ahead: FillAhead::for_latency((target * 1000.0) as u32),
        fragment: Fragmenting::OnCut,
        repeat_pictures: true,
        hold_picture: js::user_agent_has(b"Chrome/"),
        ..RemuxerOptions::default()
    }
}

/// Runs `f` on the core, then hands the events it produced to the page.
fn with(core: &WeakCore, f: impl FnOnce(&mut Core)) {
    let mut f = Some(f);
    run(core, &mut |c| {
        if let Some(f) = f.take() {
            f(c);
        }
    });
}

/// [`with`]'s body, once in the wasm rather than once per callback.
#[inline(never)]
fn run(core: &WeakCore, f: &mut dyn FnMut(&mut Core)) {
    let Some(rc) = core.upgrade() else { return };
    let (events, callback) = {
        let Ok(mut c) = rc.try_borrow_mut() else {
            return;
        };
        if c.destroyed {
            return;
        }
        f(&mut c);
        (core::mem::take(&mut c.outbox), c.on_event.clone())
    };
    for (name, detail) in events {
        let _ = callback.call2(&JsValue::NULL, &JsValue::from_str(name), &detail);
    }
}

/// Queues a non-fatal `error` event: playback goes on (the other track, the next
/// connection).
fn error(out: &mut Outbox, failure: Failure) {
    out.push(("error", failure.to_js(false).into()));
}

/// The `<video>` failed (a decode error): the MediaSource is rebuilt once.
fn media_error(video: &HtmlVideoElement, core: WeakCore) -> Listener {
    Listener::new(video, "error", move |_| {
        with(&core, |c| c.on_media_failed("decode"));
    })
}

fn visibility(document: &Document, core: WeakCore) -> Listener {
    let doc = document.clone();
    Listener::new(document, "visibilitychange", move |_| {
        if !doc.hidden() {
            with(&core, |c| {
                c.edge.resync();
                c.tick();
            });
        }
    })
}

/// The element stopped for want of media: tick now, and again when the policy
/// moves a playhead that waits with media ahead, not up to a tick later.
fn waiting(video: &HtmlVideoElement, core: WeakCore) -> Listener {
    Listener::new(video, "waiting", move |_| {
        with(&core, |c| {
            c.tick();
            let weak = c.me.clone();
            c.wait_timer = Timer::timeout(live_edge::WAIT_MS as i32 + 1, move || {
                with(&weak, Core::tick)
            });
        });
    })
}

/// A seek ended: the policy looks at once, so that a seek the element lost (see
/// `LiveEdge`'s `aim`) is made again before its wrong frame shows.
fn seeked(video: &HtmlVideoElement, core: WeakCore) -> Listener {
    Listener::new(video, "seeked", move |_| {
        with(&core, |c| {
            if !c.samples {
                c.steer(now_ms());
            }
        });
    })
}

struct Core {
    video: HtmlVideoElement,
    url: String,
    kind: Kind,
    request: Request,
    retry: Retry,
    /// A stream is loaded (not after `unload()` or a fatal error).
    loaded: bool,
    /// When the MediaSource was last rebuilt after a media error.
    media_rebuilt_ms: Option<f64>,
    /// Rebuilds allowed (in thousandths): see [`REBUILDS_AT_ONCE`].
    rebuild_budget: Bucket,
    /// A rebuild that waits its turn.
    rebuild_timer: Option<Timer>,
    autoplay: bool,
    /// For the WebCodecs renderer: samples out, no MediaSource (see the module doc).
    samples: bool,
    on_event: Function,
    outbox: Outbox,
    me: WeakCore,
    media: Option<Media>,
    edge: LiveEdge,
    pipeline: Pipeline,
    transport: Option<Transport>,
    /// A WebSocket to the URL that the page opened while this module loaded (the
    /// `socket` option), taken by the first connection instead of a new one.
    early_socket: Option<WebSocket>,
    /// The transport that just ended, kept until the next connection: it may be
    /// the one whose callback is running.
    retired: Option<Transport>,
    generation: u32,
    reconnect_timer: Option<Timer>,
    tick_timer: Option<Timer>,
    wait_timer: Option<Timer>,
    /// Until the first start: when the first media came, the timer that starts it,
    /// and at the last check the time and the newest media's end (s).
    first_media_ms: Option<f64>,
    start_pace: (f64, f64),
    /// The start's last check found the burst in but not all appended yet.
    start_on_settle: bool,
    start_timer: Option<Timer>,
    listeners: Vec<Listener>,
    /// Failed connections since the last one that delivered data.
    attempt: u32,
    /// Reconnected at once because the gateway drains, and no data since: a second
    /// "move" before any data is a failure like any other (no loop without backoff).
    moved: bool,
    ever_connected: bool,
    last_bytes_ms: f64,
    tag_errors: u32,
    destroyed: bool,
    played: bool,
    ticks: u32,
    counters: Counters,
    /// (time ms, bytes received, frames counted) once per stats period, for rates.
    window: VecDeque<(f64, f64, f64)>,
    /// Frames presented (decoded, where the browser cannot say), counted on across the
    /// engine's counter starting again: WebKitGTK restarts `totalVideoFrames` at each
    /// `playbackRate` change.
    frames: (f64, u32),
    presented: Option<Presented>,
}

#[derive(Default)]
struct Counters {
    bytes: f64,
    reconnects: u32,
    discontinuities: u32,
    jumps: u32,
    stalls: u32,
    gaps: u32,
    /// New MediaSources built for a late track or a codec change.
    rebuilds: u32,
    /// Audio holes the remuxers of earlier connections filled, and their milliseconds.
    gaps_filled: u64,
    gap_ms_filled: u64,
    /// Pictures those remuxers held for missing video.
    pictures_held: u64,
}

impl Core {
    fn new(
        video: HtmlVideoElement,
        (url, kind, request, retry): (String, Kind, Request, Retry),
        edge: live_edge::Options,
        (autoplay, samples): (bool, bool),
        on_event: Function,
        me: WeakCore,
    ) -> Core {
        Core {
            video,
            url,
            kind,
            request,
            retry,
            loaded: true,
            media_rebuilt_ms: None,
            rebuild_budget: Bucket::new(1_000_000 / REBUILD_EVERY_MS, REBUILDS_AT_ONCE * 1000),
            rebuild_timer: None,
            autoplay,
            samples,
            on_event,
            outbox: Vec::new(),
            me,
            media: None,
            edge: LiveEdge::new(edge),
            pipeline: Pipeline::new(remuxer_options(edge.target, samples), false),
            transport: None,
            early_socket: None,
            retired: None,
            generation: 0,
            reconnect_timer: None,
            tick_timer: None,
            wait_timer: None,
            first_media_ms: None,
            start_pace: (0.0, f64::NAN),
            start_on_settle: false,
            start_timer: None,
            listeners: Vec::new(),
            attempt: 0,
            moved: false,
            ever_connected: false,
            last_bytes_ms: now_ms(),
            tag_errors: 0,
            destroyed: false,
            played: false,
            ticks: 0,
            counters: Counters::default(),
            window: VecDeque::new(),
            frames: (0.0, 0),
            presented: None,
        }
    }

    fn outbox(&mut self) -> &mut Outbox {
        &mut self.outbox
    }

    fn generation(&self) -> u32 {
        self.generation
    }

    fn connect(&mut self) {
        self.retired = None;
        self.generation = self.generation.wrapping_add(1);
        let done = self.pipeline.stats();
        self.counters.gaps_filled += done.gaps_filled;
        self.counters.gap_ms_filled += done.gap_ms_filled;
        self.counters.pictures_held += done.pictures_held;
        self.pipeline = self.new_pipeline();
        self.tag_errors = 0;
        if self.samples {
            self.outbox.push(("restart", JsValue::UNDEFINED));
        }
        self.last_bytes_ms = now_ms();
        if self.ever_connected {
            if let Some(m) = &mut self.media {
                m.rejoin();
            }
        }
        let opened = Transport::open(
            &self.url,
            self.kind,
            &self.request,
            self.generation,
            self.me.clone(),
            self.early_socket.take(),
        );
        match opened {
            Ok(t) => self.transport = Some(t),
            Err(e) => self.on_end(
                self.generation,
                Failure::network("connection").reason(js::describe(&e)),
            ),
        }
    }

    /// Stops the connection and detaches the MediaSource; the `<video>` stays.
    fn unload(&mut self) {
        self.loaded = false;
        self.transport = None;
        self.retired = None;
        self.reconnect_timer = None;
        self.rebuild_timer = None;
        self.start_timer = None;
        self.wait_timer = None;
        self.generation = self.generation.wrapping_add(1);
        self.video.set_playback_rate(1.0);
        if let Some(mut m) = self.media.take() {
            m.destroy(&self.video);
        }
    }

    /// A fresh MediaSource and connection for `self.url`, placed at its live edge.
    fn reload(&mut self) -> Result<(), JsValue> {
        self.unload();
        if !self.samples {
            self.media = Some(Media::new(&self.video, self.me.clone())?);
        }
        self.loaded = true;
        self.edge.restart();
        self.first_media_ms = None;
        self.played = false;
        self.ever_connected = false;
        self.attempt = 0;
        self.moved = false;
        self.connect();
        Ok(())
    }

    /// The `<video>` or its MediaSource failed: rebuild both once; again within
    /// [`MEDIA_RETRY_WINDOW_MS`], give up (hls.js's `recoverMediaError`, by itself).
    fn on_media_failed(&mut self, details: &'static str) {
        if !self.loaded {
            return;
        }
        let now = now_ms();
        let failure = Failure::media(details, None);
        let again = self
            .media_rebuilt_ms
            .is_some_and(|t| now - t < MEDIA_RETRY_WINDOW_MS);
        if again {
            return self.fail(failure);
        }
        self.media_rebuilt_ms = Some(now);
        error(&mut self.outbox, failure.clone());
        if self.reload().is_err() {
            self.fail(failure);
        }
    }

    /// A fatal error: the stream stops, the `<video>` keeps its last frame.
    fn fail(&mut self, failure: Failure) {
        self.loaded = false;
        self.transport = None;
        self.retired = None;
        self.reconnect_timer = None;
        self.rebuild_timer = None;
        self.generation = self.generation.wrapping_add(1);
        self.outbox.push(("error", failure.to_js(true).into()));
    }

    fn on_open(&mut self) {
        let Some(m) = &mut self.media else { return };
        m.set_open();
        self.outbox.push(("open", JsValue::UNDEFINED));
        self.pump();
    }

    fn on_bytes(&mut self, generation: u32, bytes: &[u8]) {
        if generation != self.generation {
            return;
        }
        self.last_bytes_ms = now_ms();
        // More of the burst, maybe: the start waits for its timer's next check.
        self.start_on_settle = false;
        self.counters.bytes += bytes.len() as f64;
        if self.attempt > 0 || self.moved {
            let o = Object::new();
            set(&o, "attempt", self.attempt);
            self.outbox.push(("reconnected", o.into()));
            self.counters.reconnects += 1;
            self.attempt = 0;
            self.moved = false;
        }
        self.ever_connected = true;
        let mut outputs = Vec::new();
        self.pipeline.feed(bytes, &mut |o| outputs.push(o));
        let mut samples = Vec::new();
        for o in outputs {
            match o {
                Output::Remux(RemuxEvent::Config { .. } | RemuxEvent::Sample { .. }) => {
                    samples.push(o);
                }
                o => self.handle(o),
            }
        }
        if !samples.is_empty() {
            self.outbox
                .push(("samples", crate::remuxer::events(&samples).into()));
        }
        if let Some(m) = self.media.as_mut().filter(|m| m.gone.is_some()) {
            if m.remove_gone() {
                self.outbox.push(("codecs", m.codecs().into()));
            } else {
                m.rebuild = true;
            }
        }
        if self.media.as_ref().is_some_and(|m| m.rebuild) {
            return self.rebuild();
        }
        self.pump();
        if self.newest_end().is_finite() && self.first_media_ms.is_none() && !self.edge.started() {
            self.first_media_ms = Some(self.last_bytes_ms);
            self.start_pace = (self.last_bytes_ms, self.newest_end());
            self.schedule_start();
        }
    }

    /// A track came after the SourceBuffers were made without it (audio that
    /// starts late, a viewer who joined before the audio's sequence header), or
    /// went, or changed to a codec its SourceBuffer cannot take: a new MediaSource,
    /// and the stream again from the server's cached keyframe, so that every track
    /// there is plays, at the cost of a restart of well under a second.
    fn rebuild(&mut self) {
        if self.rebuild_timer.is_none() {
            // Paid for now, done when paid off.
            self.rebuild_budget.fill(now_ms() as u64);
            self.rebuild_budget.take(1000);
            let wait = self.rebuild_budget.wait_ms();
            if wait == 0 {
                return self.rebuild_now();
            }
            let weak = self.me.clone();
            self.rebuild_timer = Timer::timeout(wait as i32, move || {
                with(&weak, Core::rebuild_now);
            });
        }
        if let Some(m) = &mut self.media {
            m.keep(&mut self.outbox);
        }
    }

    fn rebuild_now(&mut self) {
        self.rebuild_timer = None;
        self.counters.rebuilds += 1;
        let placement = self.media.as_ref().and_then(Media::placement);
        if let Some(mut m) = self.media.take() {
            m.destroy(&self.video);
        }
        match Media::new(&self.video, self.me.clone()) {
            Ok(mut m) => {
                if let Some(offset) = placement {
                    m.place_as(offset);
                }
                self.media = Some(m);
            }
            Err(e) => {
                let failure = Failure::media("media-source", None).reason(js::describe(&e));
                return self.fail(failure);
            }
        }
        self.edge = LiveEdge::new(*self.edge.options());
        self.first_media_ms = None;
        self.start_timer = None;
        self.wait_timer = None;
        self.played = false;
        // Not from within this transport's callback: the next connection drops it.
        self.retired = self.transport.take();
        self.generation = self.generation.wrapping_add(1);
        let weak = self.me.clone();
        self.reconnect_timer = Timer::timeout(0, move || with(&weak, Core::connect));
    }

    /// Ticks (and so starts) as soon as the first burst of media is in.
    fn schedule_start(&mut self) {
        let weak = self.me.clone();
        self.start_timer = Timer::timeout(START_QUIET_MS as i32, move || {
            with(&weak, Core::start_when_quiet)
        });
    }

    /// A SourceBuffer finished an operation: the next one starts, and a start that
    /// waited only for the appends (its last check found the burst in, and no bytes
    /// came since) goes now, not at its timer's next check.
    fn on_updateend(&mut self) {
        self.pump();
        if self.start_on_settle && self.media.as_ref().is_some_and(Media::settled) {
            self.start_timer = None;
            self.start_on_settle = false;
            self.tick();
        }
    }

    fn start_when_quiet(&mut self) {
        self.start_timer = None;
        if self.edge.started() {
            return;
        }
        let now = now_ms();
        let first = self.first_media_ms.unwrap_or(now);
        let settled = self.media.as_ref().is_some_and(Media::settled);
        let (then, end) = self.start_pace;
        let newest = self.newest_end();
        self.start_pace = (now, newest);
        let burst_in = burst_is_in(
            now - self.last_bytes_ms,
            (newest - end) * 1000.0,
            now - then,
        );
        if !(settled && burst_in) && now - first < START_MAX_MS {
            self.start_on_settle = burst_in;
            return self.schedule_start();
        }
        self.start_on_settle = false;
        self.tick();
    }

    /// End of the newest media queued (s), NaN before any.
    fn newest_end(&self) -> f64 {
        self.media.as_ref().map_or(f64::NAN, |m| m.newest_end)
    }

    fn handle(&mut self, output: Output) {
        let ev = match output {
            Output::Broken(why) => {
                let why = flashless_core::message::describe("not FLV", &why);
                let failure = Failure::media("protocol", None).reason(why);
                return self.on_end(self.generation, failure);
            }
            Output::Script { timestamp, values } => {
                let o = Object::new();
                let mut values = values.iter();
                let name = values.clone().next().and_then(|v| v.as_str());
                if name.is_some() {
                    values.next();
                }
                set(&o, "name", name.map_or(JsValue::NULL, JsValue::from_str));
                set(&o, "values", values.map(js::amf).collect::<js_sys::Array>());
                set(&o, "timestamp", timestamp);
                self.outbox.push(("scriptdata", o.into()));
                return;
            }
            Output::Header {
                has_audio,
                has_video,
            } => {
                if let Some(m) = &mut self.media {
                    m.expect(has_video, has_audio);
                }
                return;
            }
            Output::Remux(ev) => ev,
        };
        let out = &mut self.outbox;
        match ev {
            RemuxEvent::Discontinuity { .. } => self.counters.discontinuities += 1,
            RemuxEvent::Metadata(value) => {
                if let Some(m) = &mut self.media {
                    m.expect_from_metadata(&value);
                }
                out.push(("metadata", js::amf(&value)));
            }
            RemuxEvent::Unsupported {
                track,
                codec,
                pictures,
            } => {
                let failure = Failure {
                    webcodecs: pictures,
                    ..Failure::media("codec-unsupported", Some(track)).codec(&codec)
                };
                error(out, failure);
            }
            RemuxEvent::Error { track, message } => {
                self.tag_errors += 1;
                if self.tag_errors <= MAX_TAG_ERRORS {
                    error(out, Failure::media("demux", track).reason(message));
                }
            }
            RemuxEvent::Init {
                track: Some(track),
                mime,
                data,
                info,
            } => {
                if let Some(m) = &mut self.media {
                    m.init(track, &mime, &info.codec, &data, &self.me, out);
                }
            }
            RemuxEvent::Fragment {
                track: Some(track),
                data,
                start_ms,
                end_ms,
                keyframe,
                ..
            } => {
                // Read only when a fragment will use it: `buffered` builds a TimeRanges
                // in the page, and this runs for every fragment.
                let buffered_end = if self.media.as_ref().is_some_and(|m| m.check_offset) {
                    self.ranges().last().map(|r| r.1)
                } else {
                    None
                };
                if let Some(m) = &mut self.media {
                    let out = &mut self.outbox;
                    m.fragment(track, &data, start_ms, end_ms, keyframe, buffered_end, out);
                }
            }
            // The PerTrack layout always names the track; samples go out as they are
            // (`on_bytes`).
            RemuxEvent::Init { track: None, .. }
            | RemuxEvent::Fragment { track: None, .. }
            | RemuxEvent::Config { .. }
            | RemuxEvent::Sample { .. } => {}
        }
    }

    fn on_end(&mut self, generation: u32, failure: Failure) {
        if generation != self.generation || self.destroyed || !self.loaded {
            return;
        }
        self.retired = self.transport.take();
        self.generation = self.generation.wrapping_add(1);
        // A draining gateway said "go elsewhere": at once, through the balancer, not
        // counted against the retry policy.
        let delay = if retry::at_once(&failure, self.moved) {
            self.moved = true;
            0.0
        } else {
            self.attempt += 1;
            let Some(delay) =
                self.retry
                    .delay_ms(self.attempt, &failure, js_sys::Math::random(), self.moved)
            else {
                return self.fail(failure);
            };
            delay
        };
        let o = Object::new();
        set(&o, "attempt", self.attempt);
        set(&o, "delay", delay / 1000.0);
        set(&o, "reason", failure.details);
        set(&o, "error", failure.to_js(false));
        self.outbox.push(("reconnecting", o.into()));
        let weak = self.me.clone();
        self.reconnect_timer = Timer::timeout(delay as i32, move || with(&weak, Core::connect));
    }

    fn pump(&mut self) {
        let newest_ms = self.newest_ms();
        let Some(m) = &mut self.media else { return };
        m.attach_when_ready(newest_ms, &self.me, &mut self.outbox);
        if m.attached() {
            m.pump(&self.video, &mut self.outbox);
        }
    }

    /// The newest media queued, in the remuxer's milliseconds, for the hold timer.
    fn newest_ms(&self) -> f64 {
        self.newest_end() * 1000.0
    }

    fn ranges(&self) -> Vec<(f64, f64)> {
        js::ranges(&self.video.buffered())
    }

    fn tick(&mut self) {
        let now = now_ms();
        if !self.samples {
            self.steer(now);
        }
        if self.transport.is_some() && now - self.last_bytes_ms > IDLE_MS {
            self.on_end(self.generation, Failure::network("idle"));
        }
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks % TICKS_PER_STATS == 0 {
            if !self.samples {
                let total = match &self.presented {
                    Some(p) => p.count(),
                    None => self.video.get_video_playback_quality().total_video_frames(),
                };
                let (seen, last) = self.frames;
                let new = total.checked_sub(last).unwrap_or(total);
                self.frames = (seen + f64::from(new), total);
            }
            self.window
                .push_back((now, self.counters.bytes, self.frames.0));
            while self.window.len() > 4 {
                self.window.pop_front();
            }
            self.outbox.push(("stats", self.stats().into()));
        }
    }

    /// The MSE playhead, held at the live edge by the policy; the back buffer trimmed.
    fn steer(&mut self, now: f64) {
        let ranges = self.ranges();
        let current = self.video.current_time();
        let tracks = self.media.as_ref().map(Media::track_ranges);
        let snapshot = Snapshot {
            now_ms: now,
            current,
            ranges: &ranges,
            tracks: tracks.as_deref().unwrap_or_default(),
            paused: self.video.paused(),
            seeking: self.video.seeking(),
            waiting: self.video.ready_state() < HAVE_FUTURE_DATA
                && !self.video.paused()
                && !self.video.seeking(),
        };
        let frame_ms = self.pipeline.video_frame_ms().unwrap_or(0.0);
        self.edge.set_frame_interval(frame_ms / 1000.0);
        let d = self.edge.tick(&snapshot);
        if (self.video.playback_rate() - d.rate).abs() > 1e-3 {
            self.video.set_playback_rate(d.rate);
        }
        if let Some((to, why)) = d.seek {
            self.video.set_current_time(to);
            match why {
                Seek::Behind | Seek::Resync => self.counters.jumps += 1,
                Seek::Stall | Seek::Reaim => self.counters.stalls += 1,
                Seek::Gap => self.counters.gaps += 1,
                Seek::Start => self.start_playing(),
            }
        }
        if let (Some(before), Some(m)) = (self.edge.trim_before(current, &ranges), &mut self.media)
        {
            m.trim(before);
        }
        self.pump();
    }

    fn start_playing(&mut self) {
        if !self.autoplay || self.played {
            return;
        }
        self.played = true;
        if let Ok(p) = self.video.play() {
            // Refused without a user gesture: the page shows its button (or mutes).
            // `play()` fulfils with `undefined`; a refusal is a DOMException.
            let weak = self.me.clone();
            js::settle(&p, move |e| {
                if js::get(&e, "name").as_string().as_deref() == Some("NotAllowedError") {
                    with(&weak, |c| {
                        c.outbox.push(("autoplayblocked", JsValue::UNDEFINED));
                    });
                }
            });
        }
    }

    /// The connection's stats; with MSE also the playback's (the WebCodecs renderer
    /// adds its own).
    fn stats(&self) -> Object {
        let rate = |i: usize| match (self.window.front(), self.window.back()) {
            (Some(a), Some(b)) if b.0 > a.0 => {
                let pick = |s: &(f64, f64, f64)| if i == 1 { s.1 } else { s.2 };
                (pick(b) - pick(a)) / ((b.0 - a.0) / 1000.0)
            }
            _ => f64::NAN,
        };
        let o = Object::new();
        set(&o, "bitrate", rate(1) * 8.0);
        set(&o, "reconnects", self.counters.reconnects);
        set(&o, "bytes", self.counters.bytes);
        set(&o, "discontinuities", self.counters.discontinuities);
        let remux = self.pipeline.stats();
        let filled = self.counters.gaps_filled + remux.gaps_filled;
        let filled_ms = self.counters.gap_ms_filled + remux.gap_ms_filled;
        set(&o, "gapsFilled", filled as f64);
        set(&o, "gapMsFilled", filled_ms as f64);
        let held = self.counters.pictures_held + remux.pictures_held;
        set(&o, "picturesHeld", held as f64);
        if self.samples {
            return o;
        }
        let current = self.video.current_time();
        let end = self.ranges().last().map_or(f64::NAN, |r| r.1);
        let quality = self.video.get_video_playback_quality();
        let newest = self.newest_end();
        set(&o, "latency", (newest.max(end) - current).max(0.0));
        set(&o, "buffered", (end - current).max(0.0));
        set(&o, "fps", rate(2));
        set(&o, "decodedFrames", quality.total_video_frames());
        set(&o, "droppedFrames", quality.dropped_video_frames());
        set(
            &o,
            "codecs",
            self.media
                .as_ref()
                .map_or(JsValue::NULL, |m| m.codecs().into()),
        );
        set(&o, "playbackRate", self.video.playback_rate());
        set(&o, "currentTime", current);
        set(&o, "jumps", self.counters.jumps);
        set(&o, "stalls", self.counters.stalls);
        set(&o, "gaps", self.counters.gaps);
        set(&o, "rebuilds", self.counters.rebuilds);
        set(&o, "targetLatency", self.edge.target());
        set(&o, "stuckMs", libm::floor(self.edge.stuck_ms()));
        set(&o, "recoveries", self.edge.recoveries());
        set(&o, "rateChanges", self.edge.rate_changes());
        o
    }

    fn destroy(&mut self) {
        self.destroyed = true;
        self.transport = None;
        self.retired = None;
        self.reconnect_timer = None;
        self.rebuild_timer = None;
        self.tick_timer = None;
        self.wait_timer = None;
        self.start_timer = None;
        self.listeners.clear();
        self.presented = None;
        self.outbox.clear();
        self.window.clear();
        self.video.set_playback_rate(1.0);
        if let Some(mut m) = self.media.take() {
            m.destroy(&self.video);
        }
        self.pipeline = self.new_pipeline();
    }

    fn new_pipeline(&self) -> Pipeline {
        Pipeline::new(remuxer_options(self.edge.target(), self.samples), false)
    }
}

fn now_ms() -> f64 {
    PERFORMANCE.with(|p| p.as_ref().map_or_else(js_sys::Date::now, |p| p.now()))
}

#[wasm_bindgen]
extern "C" {
    /// The page's `performance`, looked up once: `window().performance()` is two calls
    /// into the page (an `instanceof Window` check and a getter), and the clock is read
    /// for every message.
    #[wasm_bindgen(thread_local_v2, js_namespace = globalThis, js_name = performance)]
    static PERFORMANCE: Option<web_sys::Performance>;
}

/// Whether the server's start burst is all in, `quiet_ms` after the last bytes, the
/// newest media having moved `media_ms` in the `wall_ms` since the last check: the
/// connection fell quiet, or (a live stream's messages may come closer together than
/// the quiet time) the media it brings keeps pace with the clock.
fn burst_is_in(quiet_ms: f64, media_ms: f64, wall_ms: f64) -> bool {
    quiet_ms >= START_QUIET_MS || media_ms <= wall_ms + START_PACE_SLACK_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_burst_is_in_once_quiet_or_once_media_keeps_pace_with_the_clock() {
        // A whole cached GOP in a few milliseconds: more to come, maybe.
        assert!(!burst_is_in(2.0, 1000.0, 15.0));
        // Then silence.
        assert!(burst_is_in(15.0, 0.0, 15.0));
        // Or live messages every 10–20 ms, a 25 fps frame and its sound at most.
        assert!(burst_is_in(4.0, 40.0, 15.0));
        assert!(burst_is_in(4.0, 45.0, 30.0));
        // A burst sent as many small messages, or coming at 3× the clock's pace,
        // still reads as a burst.
        assert!(!burst_is_in(1.0, 120.0, 15.0));
        assert!(!burst_is_in(1.0, 45.0, 15.0));
    }
}
