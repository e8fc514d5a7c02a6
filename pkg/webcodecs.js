// The `renderer: 'webcodecs'` path of the Player: the wasm `Remuxer` in its
// `samples` layout gives decoder configurations and coded frames; WebCodecs
// decodes them; video is drawn to a canvas put in the `<video>`'s place, audio
// is played by AudioBufferSourceNodes scheduled back to back on an AudioContext,
// whose clock the pictures follow (the wall clock when there is no sound), held
// back when the audio device is slow to play sound out, by coded frames decoded
// just in time.
//
// The transport is its own (a WebSocket, or fetch for http(s)://) with the MSE
// path's reconnect rule: exponential backoff from 0.5 s to 8 s, at once when the
// gateway drains (close code 1001); the server's refusals are fatal.

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 8000;
/** No data for this long is a lost connection. */
const IDLE_MS = 20_000;
/**
 * The least sound kept queued ahead of the audio clock, as sound arrives in bunches (a
 * muxer's interleaving, the network). Each underrun by a late bunch raises it by a step,
 * up to the most; it never falls back within a connection, so a stream's jitter costs
 * one gap in the sound, not one a minute. A pause longer than MAX_AUDIO_LAG_S is a hole
 * in the stream, not jitter, and leaves it.
 */
const MIN_MARGIN_S = 0.02;
const MARGIN_STEP_S = 0.01;
const MAX_MARGIN_S = 0.06;
/** Sound starting (again, after an underrun) is scheduled this far beyond the margin. */
const START_LEAD_S = 0.02;
/**
 * The most a sound may lag the newest audio received beyond the margin, counting the
 * sound queued ahead of it: older sound (a start burst's, a burst after a stall) is
 * skipped, as it would be latency for good (the pictures follow the sound's clock).
 */
const MAX_AUDIO_LAG_S = 0.08;
/**
 * Sound that arrives in bunches, again and again (a publisher that interleaves audio with
 * video of 1 fps, a server that sends aggregate messages), must be played whole, or all
 * but the end of each bunch would be skipped as old. So the bound above grows by the
 * spread of the sound's arrival (the most minus the least its messages came after their
 * media time) in the second worst of the last ARRIVAL_WINDOWS seconds: a bunch spreads
 * its window by its span, and one burst after a stall does not count.
 */
const ARRIVAL_WINDOWS = 4;
/**
 * Every window the least sound queued ahead when a bunch arrived is compared with the
 * margin: the surplus is latency for nothing, so sound plays that much faster until it
 * is gone, heard as a slight rise in pitch (under a semitone) for a fraction of a second.
 */
const WINDOW_S = 2;
const CATCH_UP_RATE = 1.05;
/**
 * Pictures go on screen at most this far ahead of their sound as heard (ATSC IS-191: sound
 * may follow its picture by up to 45 ms). An audio device that plays sound out later than
 * that (Bluetooth: 150–250 ms) makes the pictures wait the rest, up to the most.
 */
const SYNC_LEAD_S = 0.045;
const MAX_SYNC_WAIT_S = 0.5;
/**
 * Coded video frames are decoded this far ahead of their time on the clock, so a wait for
 * the sound is spent holding coded frames (bytes), not decoded pictures: a decoder's frame
 * pool holds only a few, and MAX_PICTURES is all that waits here. Beyond MAX_CODED held
 * (a clock that stopped), the oldest are decoded anyway.
 */
const DECODE_AHEAD_S = 0.1;
const MAX_CODED = 90;
/** Coded video frames the decoder may hold before frames are skipped to the next keyframe. */
const MAX_DECODE_QUEUE = 30;
/** Decode errors of a track after which it stays off until its next configuration. */
const MAX_DECODE_ERRORS = 3;
/** Decoded pictures waiting for their time beyond this many: the oldest are dropped. */
const MAX_PICTURES = 8;

/**
 * One live stream decoded with WebCodecs. The surface the Player wraps: `stats()`,
 * `jumpToLive()`, `load(url)`, `unload()`, `destroy()`, `free()`; events through
 * `emit(name, detail)`: `open`, `stats`, `codecs`, `metadata`, `scriptdata`,
 * `error`, `reconnecting`, `reconnected`, `autoplayblocked`.
 */
export class WebCodecsRenderer {
  #video;
  #emit;
  #Remuxer;
  #canvas;
  #g;
  #audio;
  /** The sound's volume: the hidden `<video>`'s `volume`, 0 while it is `muted`. */
  #gain;
  #onVolume;
  /** The hidden `<video>` was paused (by the page's controls): nothing is drawn or heard. */
  #paused = false;
  #onPause;
  #onPlay;
  #timer;
  #frame;
  #url;
  #connection = null;
  #generation = 0;
  #attempt = 0;
  #moved = false;
  #retryTimer;
  #stream = null;
  #counters = { decoded: 0, dropped: 0, reconnects: 0, bytes: 0, audioFrames: 0, audioSkipped: 0, audioUnderruns: 0 };
  /**
   * Autoplay was refused (`autoplayblocked` said) or allowed (sound played): a context not
   * running later is a pause's, resuming, and not a refusal to say.
   */
  #autoplaySettled = false;
  /** How long pictures wait for their sound beyond SYNC_LEAD_S (s): see `#syncWait()`. */
  #wait = 0;

  constructor(video, options, emit, Remuxer) {
    this.#video = video;
    this.#emit = emit;
    this.#Remuxer = Remuxer;
    this.#canvas = options.canvas ?? placeCanvas(video);
    this.#g = this.#canvas.getContext('2d');
    this.#audio = new AudioContext({ latencyHint: 'interactive' });
    this.#audio.resume().catch(() => {});
    this.#gain = this.#audio.createGain();
    this.#gain.connect(this.#audio.destination);
    // The page's controls (and the viewer's keys) still act on the <video>.
    this.#onVolume = () => {
      this.#gain.gain.value = video.muted ? 0 : video.volume;
    };
    this.#onVolume();
    video.addEventListener('volumechange', this.#onVolume);
    // Live: paused, the picture stays and the sound stops; played again, it goes on from
    // the newest media, as the MSE path's live edge does.
    this.#onPause = () => {
      this.#paused = true;
      this.#audio.suspend().catch(() => {});
    };
    this.#onPlay = () => {
      if (!this.#paused) return;
      this.#paused = false;
      this.#audio.resume().catch(() => {});
      this.jumpToLive();
    };
    video.addEventListener('pause', this.#onPause);
    video.addEventListener('play', this.#onPlay);
    // The <video> plays nothing, but its `paused` says whether the player plays, for the
    // page's controls: not paused from the start (an autoplay the browser refuses leaves it
    // paused, as its AudioContext then says with `autoplayblocked`).
    if (options.autoplay !== false) video.play().catch(() => {});
    this.#timer = setInterval(() => this.#tick(), 1000);
    const draw = () => {
      this.#draw();
      this.#frame = requestAnimationFrame(draw);
    };
    this.#frame = requestAnimationFrame(draw);
    this.#connect(options.url, options.socket);
    setTimeout(() => this.#emit('open', undefined), 0);
  }

  stats() {
    const s = this.#stream;
    const clock = s ? this.#clock(s) : NaN;
    return {
      latency: s && s.newest !== null ? s.newest - clock : NaN,
      buffered: s ? s.pictures.length : 0,
      decodedFrames: this.#counters.decoded,
      droppedFrames: this.#counters.dropped,
      playbackRate: 1,
      currentTime: clock,
      codecs: s ? [...s.codecs.values()] : [],
      reconnects: this.#counters.reconnects,
      bytes: this.#counters.bytes,
      audioTime: this.#audio.currentTime,
      audioLatency: deviceLatency(this.#audio),
      volume: this.#gain.gain.value,
      audioFrames: this.#counters.audioFrames,
      audioSkipped: this.#counters.audioSkipped,
      audioUnderruns: this.#counters.audioUnderruns,
      audioAhead: s && s.audioAt !== null ? Math.max(0, s.audioAt - this.#audio.currentTime) : 0,
      drawnFrames: s ? s.drawn : 0,
      audioBehind: s ? s.newestOf.video - s.newestOf.audio : NaN,
      renderer: 'webcodecs',
    };
  }

  /** Shows the newest media now: pictures waiting are dropped, the clock starts again. */
  jumpToLive() {
    const s = this.#stream;
    if (!s) return;
    for (const p of s.pictures.splice(0)) p.close();
    s.offset = null;
    s.audioAt = null;
    s.surplus = 0;
    s.leastAhead = Infinity;
  }

  load(url) {
    this.unload();
    this.#attempt = 0;
    this.#moved = false;
    this.#connect(url);
  }

  unload() {
    clearTimeout(this.#retryTimer);
    this.#generation++;
    this.#connection?.close();
    this.#connection = null;
    this.#closeStream();
  }

  destroy() {
    this.unload();
    clearInterval(this.#timer);
    cancelAnimationFrame(this.#frame);
    this.#audio.close().catch(() => {});
    this.#video.removeEventListener('volumechange', this.#onVolume);
    this.#video.removeEventListener('pause', this.#onPause);
    this.#video.removeEventListener('play', this.#onPlay);
    if (this.#canvas.dataset.flashless === 'webcodecs') {
      this.#canvas.remove();
      this.#video.hidden = false;
    }
  }

  free() {}

  #connect(url, socket) {
    this.#url = url;
    const generation = ++this.#generation;
    this.#closeStream();
    this.#stream = newStream(this.#Remuxer);
    const live = () => generation === this.#generation;
    const onBytes = (bytes) => live() && this.#bytes(bytes);
    const onEnd = (failure) => live() && this.#lost(failure);
    this.#connection = url.startsWith('ws')
      ? webSocket(url, socket, onBytes, onEnd)
      : httpStream(url, onBytes, onEnd);
  }

  #lost(failure) {
    this.#connection = null;
    this.#closeStream();
    if (failure.fatal) {
      this.#emit('error', { type: 'network', details: failure.details, fatal: true, track: null, httpStatus: failure.httpStatus });
      return;
    }
    let delay = 0;
    if (failure.details === 'draining' && !this.#moved) {
      this.#moved = true;
    } else {
      this.#attempt++;
      const ceiling = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** (this.#attempt - 1));
      delay = ceiling / 2 + (Math.random() * ceiling) / 2;
    }
    const error = { type: 'network', details: failure.details, fatal: false, track: null };
    this.#emit('reconnecting', { attempt: this.#attempt, delay: delay / 1000, reason: failure.details, error });
    const generation = this.#generation;
    this.#retryTimer = setTimeout(() => generation === this.#generation && this.#connect(this.#url), delay);
  }

  #bytes(bytes) {
    const s = this.#stream;
    s.lastBytes = performance.now();
    this.#counters.bytes += bytes.byteLength;
    if (this.#attempt > 0 || this.#moved) {
      this.#emit('reconnected', { attempt: this.#attempt });
      this.#counters.reconnects++;
      this.#attempt = 0;
      this.#moved = false;
    }
    const events = s.remuxer.push(bytes);
    // The newest media of this read first, so that a burst's old sound is skipped.
    const now = performance.now();
    for (const e of events) {
      if (e.type !== 'sample') continue;
      s.newest = Math.max(s.newest ?? -Infinity, e.timestamp / 1e6);
      s.newestOf[e.track] = e.timestamp / 1e6;
      if (e.track === 'audio') this.#arrival(s, e, now);
    }
    for (const e of events) this.#event(s, e);
  }

  /** Notes how late sound arrives after its media time, a window a second. */
  #arrival(s, e, now) {
    const late = now / 1000 - e.timestamp / 1e6;
    const w = s.arrival;
    if (now >= w.end) {
      if (w.high >= w.low) w.spreads.push(w.high - w.low);
      if (w.spreads.length > ARRIVAL_WINDOWS) w.spreads.shift();
      w.low = Infinity;
      w.high = -Infinity;
      w.end = now + 1000;
    }
    w.low = Math.min(w.low, late);
    w.high = Math.max(w.high, late);
  }

  /** How much longer sound may lag because it comes in bunches: see ARRIVAL_WINDOWS. */
  #bunching(s) {
    const spreads = [...s.arrival.spreads].sort((a, b) => b - a);
    return spreads.length > 1 ? spreads[1] : 0;
  }

  #event(s, e) {
    switch (e.type) {
      case 'config':
        return this.#configure(s, e);
      case 'sample':
        return e.track === 'video' ? this.#decodeVideo(s, e) : this.#decodeAudio(s, e);
      case 'metadata':
        return this.#emit('metadata', e.value);
      case 'scriptdata':
        return this.#emit('scriptdata', { timestamp: e.timestamp, values: e.values });
      case 'unsupported':
        return this.#emit('error', { type: 'media', details: 'codec-unsupported', fatal: false, track: e.track, codec: e.codec });
      case 'error':
        return this.#emit('error', { type: 'media', details: e.fatal ? 'protocol' : 'demux', fatal: Boolean(e.fatal), track: e.track, reason: e.message });
      default:
    }
  }

  #configure(s, e) {
    const description = e.description ? e.description.slice() : undefined;
    const config =
      e.track === 'video'
        ? { codec: e.codec, description, optimizeForLatency: true }
        : { codec: e.codec, description, sampleRate: e.sampleRate, numberOfChannels: e.channels };
    s.configs[e.track] = config;
    s.errors[e.track] = 0;
    if (e.track === 'video') this.#feed(s, Infinity);
    const decoder = e.track === 'video' ? this.#videoDecoder(s) : this.#audioDecoder(s);
    try {
      if (decoder.state === 'closed') throw new Error('closed');
      decoder.configure(config);
    } catch {
      s.failed.add(e.track);
      this.#emit('error', { type: 'media', details: 'codec-unsupported', fatal: false, track: e.track, codec: e.codec });
      return;
    }
    s.failed.delete(e.track);
    s.needKey = s.needKey || e.track === 'video';
    s.codecs.set(e.track, e.codec);
    this.#emit('codecs', [...s.codecs.values()]);
  }

  #videoDecoder(s) {
    s.video ??= new VideoDecoder({
      output: (frame) => this.#picture(s, frame),
      error: (err) => this.#decodeError(s, 'video', err),
    });
    return s.video;
  }

  #audioDecoder(s) {
    s.audio ??= new AudioDecoder({
      output: (data) => this.#sound(s, data),
      error: (err) => this.#decodeError(s, 'audio', err),
    });
    return s.audio;
  }

  /** The decoder closed itself: a new one at the track's next keyframe, a few times. */
  #decodeError(s, track, err) {
    if (s !== this.#stream) return;
    s[track] = null;
    if (++s.errors[track] >= MAX_DECODE_ERRORS) s.failed.add(track);
    if (track === 'video') {
      s.needKey = true;
      s.coded.length = 0;
    }
    this.#emit('error', { type: 'media', details: 'decode', fatal: false, track, reason: String(err?.message ?? err) });
  }

  /** A decoder again, after an error closed the last one. */
  #revive(s, track) {
    if (s[track] || !s.configs[track] || s.failed.has(track)) return;
    try {
      (track === 'video' ? this.#videoDecoder(s) : this.#audioDecoder(s)).configure(s.configs[track]);
    } catch {
      s.failed.add(track);
    }
  }

  #decodeVideo(s, e) {
    if (e.keyframe) this.#revive(s, 'video');
    const d = s.video;
    if (!d || d.state !== 'configured' || s.failed.has('video')) return;
    // Behind: what is queued is decoded, then everything up to the next keyframe is skipped.
    if (d.decodeQueueSize > MAX_DECODE_QUEUE) s.needKey = true;
    if (s.needKey && !e.keyframe) {
      this.#counters.dropped++;
      return;
    }
    s.needKey = false;
    const chunk = new EncodedVideoChunk({ type: e.keyframe ? 'key' : 'delta', timestamp: e.timestamp, duration: e.duration, data: e.data });
    s.coded.push({ chunk, dts: e.dts / 1e6 });
    this.#feed(s, this.#clock(s) + DECODE_AHEAD_S);
  }

  /** Coded frames due by `due` on the clock (all of them before there is a clock) to the decoder. */
  #feed(s, due) {
    const d = s.video;
    if (!d || d.state !== 'configured') return;
    while (s.coded.length && (!(s.coded[0].dts > due) || s.coded.length > MAX_CODED)) d.decode(s.coded.shift().chunk);
  }

  #decodeAudio(s, e) {
    this.#revive(s, 'audio');
    const d = s.audio;
    if (!d || d.state !== 'configured' || s.failed.has('audio')) return;
    // A decoder times its output by the samples it decoded since its first chunk, so a
    // hole in the timeline (the remuxer restarts audio after a pause of over a second)
    // would be lost, and all sound after it taken for late: it starts again there.
    if (s.audioNext !== null && Math.abs(e.timestamp - s.audioNext) > e.duration / 2) {
      try {
        d.reset();
        d.configure(s.configs.audio);
      } catch {
        s.failed.add('audio');
        return;
      }
    }
    s.audioNext = e.timestamp + e.duration;
    d.decode(new EncodedAudioChunk({ type: 'key', timestamp: e.timestamp, duration: e.duration, data: e.data }));
  }

  /** A decoded picture waits for its time on the clock. */
  #picture(s, frame) {
    if (s !== this.#stream) return frame.close();
    this.#counters.decoded++;
    s.pictures.push(frame);
    while (s.pictures.length > MAX_PICTURES) {
      s.pictures.shift().close();
      this.#counters.dropped++;
    }
    // On the wall clock, pictures piling up mean it runs slow: it starts again at the newest.
    if (s.pictures.length === MAX_PICTURES && !s.audioClock) s.offset = null;
  }

  /** Decoded sound is scheduled right after the previous, or a little ahead after an underrun. */
  #sound(s, data) {
    if (s !== this.#stream || this.#paused) return data.close();
    const ctx = this.#audio;
    if (ctx.state !== 'running') {
      // No sound allowed (yet): the pictures go by the wall clock.
      if (!this.#autoplaySettled) {
        this.#autoplaySettled = true;
        this.#emit('autoplayblocked', undefined);
      }
      ctx.resume().catch(() => {});
      return data.close();
    }
    this.#autoplaySettled = true;
    const ts = data.timestamp / 1e6;
    const now = ctx.currentTime;
    if (s.audioAt !== null && s.audioAt < now) {
      // The sound ran out before this came: late by jitter, the margin grows.
      if (now - s.audioAt < MAX_AUDIO_LAG_S) {
        this.#counters.audioUnderruns++;
        s.margin = Math.min(MAX_MARGIN_S, s.margin + MARGIN_STEP_S);
      }
      s.audioAt = null;
      s.surplus = 0;
    }
    if (s.audioAt !== null) this.#playOffSurplus(s, s.audioAt - now, now);
    const at = s.audioAt ?? now + s.margin + START_LEAD_S;
    if (at - now + s.newestOf.audio - ts > s.margin + MAX_AUDIO_LAG_S + this.#bunching(s)) {
      this.#counters.audioSkipped++;
      return data.close();
    }
    const buffer = ctx.createBuffer(data.numberOfChannels, data.numberOfFrames, data.sampleRate);
    for (let c = 0; c < data.numberOfChannels; c++) {
      data.copyTo(buffer.getChannelData(c), { planeIndex: c, format: 'f32-planar' });
    }
    data.close();
    if (!s.audioClock) this.#syncWait();
    s.audioAt = at;
    // The clock: the media time rendered now is `ctx.currentTime - offset`.
    s.offset = s.audioAt - ts;
    s.audioClock = true;
    const node = ctx.createBufferSource();
    node.buffer = buffer;
    const rate = s.surplus > 0 ? CATCH_UP_RATE : 1;
    node.playbackRate.value = rate;
    node.connect(this.#gain);
    node.start(s.audioAt);
    s.audioAt += buffer.duration / rate;
    s.surplus -= buffer.duration - buffer.duration / rate;
    this.#counters.audioFrames += buffer.length;
  }

  /** Notes the sound queued ahead as a bunch arrives; at a window's end, any surplus is to go. */
  #playOffSurplus(s, ahead, now) {
    if (now >= s.windowEnd) {
      if (s.surplus <= 0 && Number.isFinite(s.leastAhead)) s.surplus = s.leastAhead - s.margin;
      s.leastAhead = Infinity;
      s.windowEnd = now + WINDOW_S;
    }
    s.leastAhead = Math.min(s.leastAhead, ahead);
  }

  /** The media time on screen now, or NaN before the first picture or sound. */
  #clock(s) {
    if (s.offset === null) return NaN;
    // The sound being rendered, which the device plays out `audioLatency` later (40 ms in
    // headless Chromium, 150–250 ms over Bluetooth), less the part of that the pictures wait.
    return (s.audioClock ? this.#audio.currentTime - this.#wait : performance.now() / 1000) - s.offset;
  }

  /** The pictures' wait for a slow audio device, updated only by changes of 5 ms or more. */
  #syncWait() {
    const wait = Math.min(MAX_SYNC_WAIT_S, Math.max(0, deviceLatency(this.#audio) - SYNC_LEAD_S));
    if (Math.abs(wait - this.#wait) >= 0.005) this.#wait = wait;
  }

  /**
   * Each animation frame: the newest picture whose time has come is drawn; older ones dropped.
   * A stream's first picture is drawn at once, before its time: the start burst's keyframe,
   * on screen while the pictures up to the live edge decode (up to a GOP of them).
   */
  #draw() {
    const s = this.#stream;
    if (!s || this.#paused) return;
    if (s.offset !== null) this.#feed(s, this.#clock(s) + DECODE_AHEAD_S);
    if (!s.pictures.length) return;
    if (s.offset === null || (s.audioClock && this.#audio.state !== 'running')) {
      // Without sound: the wall clock, the newest picture shown now (a start burst's
      // older ones are skipped).
      s.audioClock = false;
      s.offset ??= performance.now() / 1000 - s.pictures[s.pictures.length - 1].timestamp / 1e6;
    }
    const now = this.#clock(s);
    let show = s.drawn === 0 ? s.pictures.shift() : null;
    while (s.pictures.length && s.pictures[0].timestamp / 1e6 <= now) {
      if (show) {
        show.close();
        this.#counters.dropped++;
      }
      show = s.pictures.shift();
    }
    if (!show) return;
    const c = this.#canvas;
    if (c.width !== show.displayWidth || c.height !== show.displayHeight) {
      c.width = show.displayWidth;
      c.height = show.displayHeight;
    }
    this.#g.drawImage(show, 0, 0, c.width, c.height);
    s.drawn++;
    show.close();
  }

  #tick() {
    this.#syncWait();
    const s = this.#stream;
    if (s && this.#connection && performance.now() - s.lastBytes > IDLE_MS) {
      this.#connection.close();
      this.#lost({ details: 'idle', fatal: false });
      return;
    }
    this.#emit('stats', this.stats());
  }

  #closeStream() {
    const s = this.#stream;
    if (!s) return;
    this.#stream = null;
    for (const p of s.pictures.splice(0)) p.close();
    for (const d of [s.video, s.audio]) if (d && d.state !== 'closed') d.close();
    s.remuxer.free();
  }
}

/** How long after `currentTime` the audio device plays the sound out (s). */
function deviceLatency(ctx) {
  const out = ctx.getOutputTimestamp?.();
  if (!(out?.performanceTime > 0)) return (ctx.baseLatency || 0) + (ctx.outputLatency || 0);
  return ctx.currentTime - out.contextTime - (performance.now() - out.performanceTime) / 1000;
}

function newStream(Remuxer) {
  return {
    remuxer: new Remuxer({ layout: 'samples' }),
    video: null,
    audio: null,
    needKey: true,
    failed: new Set(),
    configs: {},
    errors: { video: 0, audio: 0 },
    codecs: new Map(),
    pictures: [],
    coded: [],
    newest: null,
    newestOf: { video: NaN, audio: NaN },
    /** Where the next audio sample should start (µs), for holes in the audio timeline. */
    audioNext: null,
    /** How late sound arrives after its media time, this second (s) and the last ones' spreads: see ARRIVAL_WINDOWS. */
    arrival: { end: 0, low: Infinity, high: -Infinity, spreads: [] },
    offset: null,
    audioAt: null,
    audioClock: false,
    margin: MIN_MARGIN_S,
    leastAhead: Infinity,
    windowEnd: 0,
    surplus: 0,
    drawn: 0,
    lastBytes: performance.now(),
  };
}

/** A canvas in the `<video>`'s place, the same size and style; the `<video>` is hidden. */
function placeCanvas(video) {
  const canvas = document.createElement('canvas');
  canvas.dataset.flashless = 'webcodecs';
  canvas.className = video.className;
  canvas.style.cssText = video.style.cssText;
  canvas.style.objectFit ||= 'contain';
  for (const side of ['width', 'height']) {
    const attr = video.getAttribute(side);
    if (attr && !canvas.style[side]) canvas.style[side] = /^\d+$/.test(attr) ? `${attr}px` : attr;
  }
  video.after(canvas);
  video.hidden = true;
  return canvas;
}

/**
 * FLV over a WebSocket (`socket`: one already opened by `Player.create`). `onEnd`
 * gets `{ details, fatal }` once, as the MSE path names the close.
 */
function webSocket(url, socket, onBytes, onEnd) {
  const ws = socket ?? new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  let ended = false;
  const end = (failure) => {
    if (ended) return;
    ended = true;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    onEnd(failure);
  };
  ws.onopen = null;
  ws.onmessage = (e) => onBytes(new Uint8Array(e.data));
  ws.onerror = null;
  ws.onclose = (e) => {
    if (e.code === 1001) return end({ details: 'draining', fatal: false });
    if (e.code === 1008 || (e.code >= 4000 && e.code <= 4999)) return end({ details: 'policy', fatal: true });
    if (e.code === 1000) return end({ details: 'ended', fatal: false });
    end({ details: 'connection', fatal: false });
  };
  return {
    close() {
      ended = true;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      ws.close();
    },
  };
}

/** FLV over HTTP, read as it arrives. */
function httpStream(url, onBytes, onEnd) {
  const abort = new AbortController();
  let ended = false;
  const end = (failure) => {
    if (!ended && !abort.signal.aborted) onEnd(failure);
    ended = true;
  };
  (async () => {
    const response = await fetch(url, { signal: abort.signal, cache: 'no-store' });
    if (!response.ok) {
      const details = { 401: 'unauthorized', 403: 'forbidden', 404: 'not-found' }[response.status] ?? 'http-status';
      return end({ details, fatal: response.status >= 400 && response.status < 500, httpStatus: response.status });
    }
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return end({ details: 'ended', fatal: false });
      if (abort.signal.aborted) return;
      onBytes(value);
    }
  })().catch(() => end({ details: 'connection', fatal: false }));
  return {
    close() {
      ended = true;
      abort.abort();
    },
  };
}
