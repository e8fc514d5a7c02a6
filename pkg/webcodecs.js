// The `renderer: 'webcodecs'` path of the Player: the wasm player in its `samples`
// mode connects, retries and remuxes exactly as for MSE, and hands over decoder
// configurations and coded frames; WebCodecs decodes them; video is drawn to a
// canvas put in the `<video>`'s place, audio is played by AudioBufferSourceNodes
// scheduled back to back on an AudioContext, whose clock the pictures follow (the
// wall clock when there is no sound), held back when the audio device is slow to
// play sound out, by coded frames decoded just in time.
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
/**
 * A margin raised by underruns comes back down a step after each CALM_S of sound without
 * one (the MSE player's raised target eases back likewise): jitter once, on a busy core
 * at minute 2, is not latency for the rest of the session.
 */
const CALM_S = 20;
/**
 * The most sound skipped in a row as starting behind the picture on screen (s of media),
 * or as late on the sound's clock (s of that clock): see `#behind`.
 */
const MAX_BEHIND_S = 0.5;
/** Sound starting afresh (the first, or after sound late for good) is scheduled this far beyond the margin. */
const START_LEAD_S = 0.02;
/**
 * Sound starting again on the clock it left (after an underrun or a hole) is scheduled
 * there if that is at least this far ahead, the time it takes to reach the audio thread;
 * sooner, it is late, and skipped.
 */
const RESUME_LEAD_S = 0.005;
/**
 * Sound that runs out again within this long of the last time (the AudioContext's time)
 * comes late as a rule, not by chance: a stream whose sound comes in bunches (1 fps video
 * interleaved with it) must be played whole, so the clock moves to take it, as when it
 * starts afresh. The bunching allowance (ARRIVAL_WINDOWS) spans as long.
 */
const REPEAT_S = 4;
/**
 * Sound that comes within this long of such a run-out (a bunch, which arrives over several
 * reads) is played whole, not skipped as old: the bunching allowance has not learnt it yet
 * at a stream's start. A stream's first sound counts as a run-out, so a 1 fps stream's
 * first bunch after the start burst is played, not skipped to the picture after it.
 */
const BUNCH_S = 0.25;
/**
 * The most a sound may lag the newest audio received beyond the margin, counting the
 * sound queued ahead of it: older sound (a start burst's, a burst after a stall) is
 * skipped, as it would be latency for good (the pictures follow the sound's clock). Such
 * sound is decoded, and skipped, in a moment; sound that stays late for MAX_BEHIND_S of
 * the clock comes from a decoder that holds it, and the bound grows by its lag: see `#old`.
 */
const MAX_AUDIO_LAG_S = 0.08;
/** A pause this long between pieces of old sound is a held main thread's, not a slow decoder's: see `#old`. */
const OLD_PAUSE_S = 0.25;
/** The most pieces of sound noted as fed to the decoder and not yet out (some 20 s of AAC): see `#backlog`. */
const MAX_FED = 1000;
/**
 * Sound held by a decoder lags steadily: over a spell of old sound, its lag spreads by less
 * than this share of the clock's time. Where it shrinks, a burst is being caught up with
 * (decoded faster than it plays, however slowly a starved core does it); where it grows, a
 * core is too busy to decode in time; where it grows then shrinks, the sound that arrived
 * while a burst was decoded waits behind it, then comes at once: none is a lag to allow.
 * See `#old`.
 */
const STEADY = 0.25;
/**
 * Sound that arrives in bunches, again and again (a publisher that interleaves audio with
 * video of 1 fps, a server that sends aggregate messages), must be played whole, or all
 * but the end of each bunch would be skipped as old. So the bound above grows by the
 * spread of the sound's arrival (the most minus the least its messages came after their
 * media time) in the second worst of the last ARRIVAL_WINDOWS seconds, this one among
 * them so that a bunch counts as it arrives: a bunch spreads its window by its span, and
 * one burst after a stall does not count.
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
 * that (Bluetooth: 150–250 ms) makes the pictures wait the rest, up to the most (not in
 * Firefox, where reading it hangs pages: see LATENCY_READ_HANGS).
 */
const SYNC_LEAD_S = 0.045;
const MAX_SYNC_WAIT_S = 0.5;
/**
 * Coded video frames are decoded this far ahead of their time on the clock, so a wait for
 * the sound is spent holding coded frames (bytes), not decoded pictures: a decoder's frame
 * pool holds only a few, and MAX_PICTURES is all that waits here. Beyond MAX_CODED_S of them
 * held (a clock that stopped, sound that lags its pictures by more), the oldest are decoded
 * anyway: counted in seconds, as 60 fps waits for its sound as long as 25 fps does.
 */
const DECODE_AHEAD_S = 0.1;
const MAX_CODED_S = 3.6;
/**
 * Coded video frames handed to the decoder and not yet out: the rest wait here, and go
 * in as it drains. A burst (a start's GOP, up to seconds of it; the catch-up after a
 * stall) is decoded whole, as frames skipped would leave nothing to show until the
 * next keyframe, which may be seconds away.
 */
const MAX_DECODE_QUEUE = 30;
/**
 * A decoder that cannot keep up: when a keyframe comes while the frames waiting for
 * the decoder are this late, they are skipped, and it goes on from the keyframe. Beyond
 * MAX_BACKLOG waiting (a decoder that stopped), they are all dropped until the next one.
 */
const MAX_DECODE_LATE_S = 0.5;
const MAX_BACKLOG = 300;
/** Decode errors of a track after which it stays off until its next configuration. */
const MAX_DECODE_ERRORS = 3;
/**
 * The AudioContext is made once the first picture is up (or the first sound comes, with
 * no picture to wait for, or after this long): a page's first takes some 50 ms of the
 * main thread to make. Until it runs, sound is dropped; not running this long after it
 * was made, it is refused (`autoplayblocked`).
 */
const AUDIO_START_MS = 500;
/**
 * Decoded pictures waiting for their time beyond this many: the oldest are dropped. As many
 * waiting and none due (the sound lags them by more than MAX_CODED_S), the oldest is drawn,
 * ahead of its sound: pictures that go on out of sync rather than a frozen one.
 */
const MAX_PICTURES = 8;
/**
 * No new picture for this long, or for this many frame intervals if longer (a 1 fps
 * source), is a stall: counted in `stalls` and `stuckMs`, and the `<video>` says
 * `waiting` (then `playing`), as it would with MSE.
 */
const STILL_MS = 250;
const STILL_FRAMES = 2.5;
/**
 * No picture for this long while the sound goes on (a publisher back with sound only; a
 * video codec this browser cannot decode): the sound says whether it plays, as the MSE
 * player's new MediaSource without the track does (its TRACK_GONE_S).
 */
const VIDEO_GONE_MS = 3000;

/**
 * One live stream decoded with WebCodecs. The surface the Player wraps: `stats()`,
 * `jumpToLive()`, `load(url)`, `unload()`, `destroy()`, `free()`; events through
 * `emit(name, detail)`: `open`, `stats`, `codecs`, `metadata`, `scriptdata`,
 * `error`, `reconnecting`, `reconnected`, `autoplayblocked`. `Link` is the wasm
 * player, which connects and remuxes (its `samples` mode).
 */
export class WebCodecsRenderer {
  #video;
  #emit;
  #link;
  #canvas;
  #g;
  /** `null` until the first picture is up: see AUDIO_START_MS. */
  #audio = null;
  /** When the AudioContext was made (ms). */
  #audioSince = 0;
  /** The sound's volume: the hidden `<video>`'s `volume`, 0 while it is `muted`. */
  #gain = null;
  #onVolume;
  /** The hidden `<video>` was paused (by the page's controls): nothing is drawn or heard. */
  #paused = false;
  #onPause;
  #onPlay;
  #frame;
  #stream = null;
  #counters = {
    decoded: 0,
    dropped: 0,
    audioFrames: 0,
    audioSkipped: 0,
    audioUnderruns: 0,
    jumps: 0,
    stalls: 0,
    gaps: 0,
    recoveries: 0,
    rateChanges: 0,
    stuckMs: 0,
  };
  /** No picture (or, without video, no sound) is coming: from the start, and in a stall. */
  #stuck = true;
  #destroyed = false;
  /** (time, decoded frames) at the last few stats, for `fps`. */
  #window = [];
  /**
   * Autoplay was refused (`autoplayblocked` said) or allowed (sound played): a context not
   * running later is a pause's, resuming, and not a refusal to say.
   */
  #autoplaySettled = false;
  /** How long pictures wait for their sound beyond SYNC_LEAD_S (s): see `#syncWait()`. */
  #wait = 0;

  constructor(video, options, emit, Link) {
    // First, as it may throw (a bad URL): nothing is made yet.
    this.#link = new Link(video, { ...options, samples: true }, (name, detail) => this.#signal(name, detail));
    this.#video = video;
    this.#emit = emit;
    this.#canvas = options.canvas ?? placeCanvas(video);
    this.#g = this.#canvas.getContext('2d');
    // The page's controls (and the viewer's keys) still act on the <video>.
    this.#onVolume = () => {
      if (this.#gain) this.#gain.gain.value = this.#volume();
    };
    video.addEventListener('volumechange', this.#onVolume);
    // Live: paused, the picture stays and the sound stops; played again, it goes on from
    // the newest media, as the MSE path's live edge does.
    this.#onPause = () => {
      this.#paused = true;
      // Played again, it waits for its first picture, as at the start: not a stall.
      this.#stuck = true;
      this.#audio?.suspend().catch(() => {});
    };
    this.#onPlay = () => {
      if (!this.#paused) return;
      this.#paused = false;
      this.#audio?.resume().catch(() => {});
      this.jumpToLive();
    };
    video.addEventListener('pause', this.#onPause);
    video.addEventListener('play', this.#onPlay);
    // The <video> plays nothing, but its `paused` says whether the player plays, for the
    // page's controls: not paused from the start (an autoplay the browser refuses leaves it
    // paused, as its AudioContext then says with `autoplayblocked`).
    if (options.autoplay !== false) video.play().catch(() => {});
    const draw = () => {
      this.#draw();
      this.#frame = requestAnimationFrame(draw);
    };
    this.#frame = requestAnimationFrame(draw);
    setTimeout(() => this.#emit('open', undefined), 0);
  }

  /** What the wasm player says: samples to decode, a new connection, the rest for the page. */
  #signal(name, detail) {
    switch (name) {
      case 'samples':
        return this.#samples(detail);
      case 'restart':
        this.#closeStream();
        this.#stream = newStream();
        return undefined;
      case 'stats':
        return this.#tick();
      case 'error':
        // The stream stopped: the last picture stays.
        if (detail.fatal) this.#closeStream();
        return this.#emit(name, detail);
      default:
        return this.#emit(name, detail);
    }
  }

  stats() {
    const s = this.#stream;
    const clock = s ? this.#clock(s) : NaN;
    const c = this.#counters;
    const latency = s && s.newest !== null ? s.newest - clock : NaN;
    const [first, last] = [this.#window[0], this.#window.at(-1)];
    return {
      ...this.#link.stats(),
      latency,
      // Everything received is held ahead of the clock, coded or decoded.
      buffered: Math.max(0, latency),
      fps: last && last[0] > first[0] ? ((last[1] - first[1]) * 1000) / (last[0] - first[0]) : NaN,
      decodedFrames: c.decoded,
      droppedFrames: c.dropped,
      playbackRate: s && s.surplus > 0 ? CATCH_UP_RATE : 1,
      currentTime: clock,
      codecs: s ? [...s.codecs.values()] : [],
      jumps: c.jumps,
      stalls: c.stalls,
      gaps: c.gaps,
      rebuilds: 0,
      targetLatency: s ? s.margin : MIN_MARGIN_S,
      stuckMs: Math.floor(c.stuckMs),
      recoveries: c.recoveries,
      rateChanges: c.rateChanges,
      audioTime: this.#audio ? this.#audio.currentTime : 0,
      audioLatency: this.#audio ? deviceLatency(this.#audio) : 0,
      volume: this.#volume(),
      audioFrames: c.audioFrames,
      audioSkipped: c.audioSkipped,
      audioUnderruns: c.audioUnderruns,
      audioAhead: s && s.audioAt !== null ? Math.max(0, s.audioAt - this.#audio.currentTime) : 0,
      decoderLag: s ? s.decoderLag : 0,
      drawnFrames: s ? s.drawn : 0,
      audioBehind: s ? s.newestOf.video - s.newestOf.audio : NaN,
      renderer: 'webcodecs',
    };
  }

  /** Shows the newest media now: pictures waiting are dropped, the clock starts again. */
  jumpToLive() {
    const s = this.#stream;
    if (!s) return;
    this.#counters.jumps++;
    for (const p of s.pictures.splice(0)) p.close();
    s.offset = null;
    s.audioAt = null;
    s.surplus = 0;
    s.leastAhead = Infinity;
  }

  load(url) {
    this.#link.load(url);
  }

  unload() {
    this.#link.unload();
    this.#closeStream();
  }

  destroy() {
    this.#destroyed = true;
    this.#link.destroy();
    this.#closeStream();
    cancelAnimationFrame(this.#frame);
    this.#audio?.close().catch(() => {});
    this.#video.removeEventListener('volumechange', this.#onVolume);
    this.#video.removeEventListener('pause', this.#onPause);
    this.#video.removeEventListener('play', this.#onPlay);
    if (this.#canvas.dataset.flashless === 'webcodecs') {
      this.#canvas.remove();
      this.#video.hidden = false;
    }
  }

  free() {
    this.#link.free();
  }

  /** One read's decoder configurations and coded frames. */
  #samples(events) {
    const s = this.#stream;
    if (!s) return;
    // The newest media of this read first, so that a burst's old sound is skipped.
    const now = performance.now();
    for (const e of events) {
      if (e.type !== 'sample') continue;
      s.newest = Math.max(s.newest ?? -Infinity, e.timestamp / 1e6);
      s.newestOf[e.track] = e.timestamp / 1e6;
      if (e.track === 'audio') this.#arrival(s, e, now);
    }
    for (const e of events) {
      if (e.type === 'config') this.#configure(s, e);
      else if (e.track === 'video') this.#decodeVideo(s, e);
      else this.#decodeAudio(s, e);
    }
  }

  /** Notes how late sound arrives after its media time, a window a second. */
  #arrival(s, e, now) {
    const late = now / 1000 - e.timestamp / 1e6;
    const w = s.arrival;
    if (now >= w.end) {
      if (w.high >= w.low) w.past.push([w.low, w.high]);
      if (w.past.length >= ARRIVAL_WINDOWS) w.past.shift();
      w.low = Infinity;
      w.high = -Infinity;
      w.end = now + 1000;
    }
    w.low = Math.min(w.low, late);
    w.high = Math.max(w.high, late);
  }

  /**
   * How much older than the live pace the sound at `ts` was when it arrived, beyond the
   * spread its arrivals are allowed (`#bunching`), in s: the part of its lag that is a
   * backlog's (a start's burst, a stall's), not the decoder's (see `#old`). The pieces fed to
   * the decoder are matched to its output by time, in order.
   */
  #backlog(s, ts, bunching) {
    let late = null;
    while (s.fed.length && s.fed[0][0] <= ts + 0.001) late = s.fed.shift()[1];
    const w = s.arrival;
    const least = Math.min(w.low, ...w.past.map(([low]) => low));
    return late === null ? 0 : Math.max(0, late - least - bunching);
  }

  /** How much longer sound may lag because it comes in bunches: see ARRIVAL_WINDOWS. */
  #bunching(s) {
    const w = s.arrival;
    const spreads = [...w.past, [w.low, w.high]].map(([low, high]) => high - low).sort((a, b) => b - a);
    return Math.max(0, spreads[1] ?? 0);
  }

  #configure(s, e) {
    const description = e.description ? e.description.slice() : undefined;
    const config =
      e.track === 'video'
        ? { codec: e.codec, description, optimizeForLatency: true }
        : { codec: registered(e.codec), description, sampleRate: e.sampleRate, numberOfChannels: e.channels };
    s.configs[e.track] = config;
    s.errors[e.track] = 0;
    // Frames coded for the last configuration go before it changes, whatever is queued.
    if (e.track === 'video') this.#feed(s, Infinity, Infinity);
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
    const Decoder = videoDecoderFor(s.configs.video);
    // A stream whose video changes to or from a codec the wasm decodes changes decoders.
    if (s.video && !(s.video instanceof Decoder)) {
      if (s.video.state !== 'closed') s.video.close();
      s.video = null;
    }
    if (!s.video) {
      s.video = new Decoder({
        output: (frame) => this.#picture(s, frame),
        error: (err) => this.#decodeError(s, 'video', err),
      });
      // Where there is no `dequeue` event, the next frame received or drawn feeds it.
      s.video.addEventListener('dequeue', () => this.#feed(s, this.#clock(s) + DECODE_AHEAD_S));
    }
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
    if (track === 'video') {
      s.needKey = true;
      s.coded.length = 0;
    }
    // A configuration the browser does not decode at all fails here too, after
    // `configure` took it (Chromium's OperationError, Firefox's NotSupportedError): asked
    // plainly, it is one unsupported codec, not a decode to try again. No new decoder
    // meanwhile.
    const config = s.configs[track];
    const Decoder = track === 'video' ? videoDecoderFor(config) : AudioDecoder;
    s.failed.add(track);
    Decoder.isConfigSupported(config)
      .then(
        (r) => r.supported,
        () => false,
      )
      .then((supported) => {
        if (s !== this.#stream || s.configs[track] !== config) return;
        if (!supported) {
          const codec = s.codecs.get(track);
          s.codecs.delete(track);
          this.#emit('codecs', [...s.codecs.values()]);
          this.#emit('error', { type: 'media', details: 'codec-unsupported', fatal: false, track, codec });
          return;
        }
        if (++s.errors[track] < MAX_DECODE_ERRORS) s.failed.delete(track);
        this.#emit('error', { type: 'media', details: 'decode', fatal: false, track, reason: String(err?.message ?? err) });
      });
  }

  /** A decoder again, after an error closed the last one. */
  #revive(s, track) {
    if (s[track] || !s.configs[track] || s.failed.has(track)) return;
    try {
      (track === 'video' ? this.#videoDecoder(s) : this.#audioDecoder(s)).configure(s.configs[track]);
      this.#counters.recoveries++;
    } catch {
      s.failed.add(track);
    }
  }

  #decodeVideo(s, e) {
    if (e.keyframe) this.#revive(s, 'video');
    const d = s.video;
    if (!d || d.state !== 'configured' || s.failed.has('video')) return;
    if (s.coded.length >= MAX_BACKLOG) this.#skipCoded(s, true);
    if (s.needKey && !e.keyframe) {
      this.#counters.dropped++;
      return;
    }
    s.needKey = false;
    // Behind: what waits for the decoder is skipped for this keyframe.
    if (e.keyframe && this.#clock(s) - s.coded[0]?.dts > MAX_DECODE_LATE_S) this.#skipCoded(s, false);
    const chunk = new EncodedVideoChunk({ type: e.keyframe ? 'key' : 'delta', timestamp: e.timestamp, duration: e.duration, data: e.data });
    s.coded.push({ chunk, dts: e.dts / 1e6 });
    this.#feed(s, this.#clock(s) + DECODE_AHEAD_S);
  }

  /**
   * Coded frames due by `due` on the clock (all of them before there is a clock) to the
   * decoder, while it holds fewer than `room`.
   */
  #feed(s, due, room = MAX_DECODE_QUEUE) {
    const d = s.video;
    if (!d || d.state !== 'configured') return;
    while (s.coded.length && d.decodeQueueSize < room && (!(s.coded[0].dts > due) || s.coded.at(-1).dts - s.coded[0].dts > MAX_CODED_S)) {
      d.decode(s.coded.shift().chunk);
    }
  }

  /** The coded frames waiting for the decoder are dropped; `needKey`: and all up to the next keyframe. */
  #skipCoded(s, needKey) {
    this.#counters.dropped += s.coded.length;
    s.coded.length = 0;
    s.needKey ||= needKey;
  }

  #decodeAudio(s, e) {
    this.#revive(s, 'audio');
    const d = s.audio;
    if (!d || d.state !== 'configured' || s.failed.has('audio')) return;
    // A decoder times its output by the samples it decoded since its first chunk, so a
    // hole in the timeline (the remuxer restarts audio after a pause of over a second)
    // would be lost, and all sound after it taken for late: it starts again there.
    if (s.audioNext !== null && Math.abs(e.timestamp - s.audioNext) > e.duration / 2) {
      this.#counters.gaps++;
      s.fed.length = 0;
      try {
        d.reset();
        d.configure(s.configs.audio);
      } catch {
        s.failed.add('audio');
        return;
      }
    }
    s.audioNext = e.timestamp + e.duration;
    // Bounded, should the decoder drop what it was fed (a reset, a failure).
    if (s.fed.length >= MAX_FED) s.fed.shift();
    s.fed.push([e.timestamp / 1e6, performance.now() / 1000 - e.timestamp / 1e6]);
    d.decode(new EncodedAudioChunk({ type: 'key', timestamp: e.timestamp, duration: e.duration, data: e.data }));
  }

  /** A decoded picture waits for its time on the clock. */
  #picture(s, frame) {
    if (s !== this.#stream) return frame.close();
    this.#counters.decoded++;
    if (frame.timestamp > s.lastPicture) s.frameMs = Math.min((frame.timestamp - s.lastPicture) / 1000, 5000);
    s.lastPicture = frame.timestamp;
    s.pictures.push(frame);
    while (s.pictures.length > MAX_PICTURES) {
      s.pictures.shift().close();
      this.#counters.dropped++;
    }
    // On the wall clock, pictures piling up ahead of it mean it runs slow (it started at
    // a burst's old picture): it starts again at the newest. Piling up past their time,
    // they wait for an animation frame (a browser that sends few), and the clock is right.
    if (s.pictures.length === MAX_PICTURES && !s.audioClock && s.offset !== null && s.pictures[0].timestamp / 1e6 > this.#clock(s)) {
      s.offset = null;
      this.#counters.jumps++;
    }
  }

  /** The sound's volume: the `<video>`'s, 0 while it is muted. */
  #volume() {
    return this.#video.muted ? 0 : this.#video.volume;
  }

  /** The AudioContext, made now if it is not yet: see AUDIO_START_MS. */
  #context() {
    if (!this.#audio) {
      this.#audio = new AudioContext({ latencyHint: 'interactive' });
      this.#audioSince = performance.now();
      this.#gain = this.#audio.createGain();
      this.#gain.gain.value = this.#volume();
      this.#gain.connect(this.#audio.destination);
      if (this.#paused) this.#audio.suspend().catch(() => {});
    }
    if (!this.#paused) this.#audio.resume().catch(() => {});
    return this.#audio;
  }

  /** Decoded sound is scheduled right after the previous, or a little ahead after an underrun. */
  #sound(s, data) {
    if (s !== this.#stream || this.#paused) return data.close();
    s.firstSound ??= performance.now();
    const waiting = s.configs.video && !s.failed.has('video') && !s.drawn;
    if (!this.#audio && waiting && performance.now() - s.firstSound < AUDIO_START_MS) return data.close();
    const ctx = this.#audio ?? this.#context();
    if (ctx.state !== 'running') {
      // No sound allowed (yet): the pictures go by the wall clock.
      if (!this.#autoplaySettled && performance.now() - this.#audioSince > AUDIO_START_MS) {
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
      s.ranOutAgain = now - s.ranOutAt < REPEAT_S;
      s.ranOutAt = now;
      s.wholeUntil = s.ranOutAgain ? now + BUNCH_S : -Infinity;
      // The sound ran out before this came: late by jitter, the margin grows.
      if (now - s.audioAt < MAX_AUDIO_LAG_S) {
        this.#counters.audioUnderruns++;
        // The clock the sound goes on from moves by the step, to queue that much more.
        if (s.margin < MAX_MARGIN_S) s.offset += MARGIN_STEP_S;
        s.margin = Math.min(MAX_MARGIN_S, s.margin + MARGIN_STEP_S);
        s.calmFrom = now;
      }
      s.audioAt = null;
      s.surplus = 0;
    } else if (s.margin > MIN_MARGIN_S && now - s.calmFrom >= CALM_S) {
      // What the lower margin leaves queued is a surplus, played off as any other.
      s.margin = Math.max(MIN_MARGIN_S, s.margin - MARGIN_STEP_S);
      s.calmFrom = now;
    }
    if (s.audioAt !== null) this.#playOffSurplus(s, s.audioAt - now, now);
    const at = s.audioAt ?? this.#resumeAt(s, ts, now);
    // How much later than its bound the sound comes, before the decoder's allowance.
    const bunching = this.#bunching(s);
    const excess = at - now + s.newestOf.audio - ts - s.margin - MAX_AUDIO_LAG_S - bunching;
    const backlog = this.#backlog(s, ts, bunching);
    if (this.#behind(s, ts, now) || (now >= s.wholeUntil && this.#old(s, excess - s.decoderLag, backlog, now))) {
      this.#counters.audioSkipped++;
      return data.close();
    }
    this.#fitDecoderLag(s, excess, now);
    const buffer = ctx.createBuffer(data.numberOfChannels, data.numberOfFrames, data.sampleRate);
    for (let c = 0; c < data.numberOfChannels; c++) {
      data.copyTo(buffer.getChannelData(c), { planeIndex: c, format: 'f32-planar' });
    }
    data.close();
    if (!s.audioClock) {
      this.#syncWait();
      s.ranOutAt = now;
    }
    s.audioAt = at;
    // The clock: the media time rendered now is `ctx.currentTime - offset`.
    s.offset = s.audioAt - ts;
    s.audioClock = true;
    const node = ctx.createBufferSource();
    node.buffer = buffer;
    const rate = s.surplus > 0 ? CATCH_UP_RATE : 1;
    if (rate !== s.rate) this.#counters.rateChanges++;
    s.rate = rate;
    node.playbackRate.value = rate;
    node.connect(this.#gain);
    node.start(s.audioAt);
    s.audioAt += buffer.duration / rate;
    s.surplus -= buffer.duration - buffer.duration / rate;
    this.#counters.audioFrames += buffer.length;
  }

  /**
   * Where sound starting (again) at `ts` goes on the AudioContext's time. After an underrun
   * or a hole, where it falls on the clock it left (`#resumeOn`), so that late sound costs a
   * gap, not latency for good; it was that or restart from the late sound, which kept its
   * lateness queued until played off, seconds later. At most the margin and the lead ahead,
   * as the first sound; sooner than RESUME_LEAD_S it is late (`#behind`), and after
   * MAX_BEHIND_S of that it starts afresh.
   */
  #resumeAt(s, ts, now) {
    const fresh = now + s.margin + START_LEAD_S;
    const on = this.#resumeOn(s, ts);
    return on >= now + RESUME_LEAD_S ? Math.min(on, fresh) : fresh;
  }

  /**
   * Where media time `ts` falls on the AudioContext's time by the clock the sound left; NaN
   * where the sound starts afresh: no sound clock yet, or sound that ran out again (REPEAT_S).
   */
  #resumeOn(s, ts) {
    return s.audioClock && s.offset !== null && !s.ranOutAgain ? ts + s.offset : NaN;
  }

  /**
   * Whether sound starting (again) at `ts` is to be skipped. On the clock the sound left
   * (after an underrun or a hole): where its place on that clock has passed (`#resumeAt`), for
   * up to MAX_BEHIND_S of the clock, after which sound that stays late (a source that fell
   * behind for good) starts the clock afresh. Sound that starts afresh: where it is before the
   * picture on screen, as played it would put the clock back (the player joined in a hole); the
   * first may be up to a picture's interval behind, as the wall clock runs that far ahead of
   * all the media there is. Sound that stays behind (a publisher whose sound lags its pictures)
   * is played after MAX_BEHIND_S of it, the clock put back once, rather than never.
   */
  #behind(s, ts, now) {
    const on = this.#resumeOn(s, ts);
    const slack = s.audioClock ? 0 : s.frameMs / 1000;
    // The picture on screen, not the clock, which runs on without sound up to the newest
    // media received, past a 1 fps stream's picture by up to a second.
    const late = Number.isNaN(on) ? ts < (s.shown ?? this.#clock(s)) - slack : on < now + RESUME_LEAD_S;
    if (s.audioAt !== null || !late) {
      s.behindFrom = null;
      return false;
    }
    // Counted in media time for sound that starts afresh, in the clock's time on the clock.
    const since = Number.isNaN(on) ? ts : now;
    s.behindFrom ??= since;
    return since - s.behindFrom < MAX_BEHIND_S;
  }

  /**
   * Whether sound that lags `excess` (s) beyond its bound (MAX_AUDIO_LAG_S) is skipped as old:
   * yes, until it has for MAX_BEHIND_S of the clock's time, piece after piece, steadily. The
   * old sound of a burst is decoded and skipped in far less; on a starved core, its lag shrinks
   * or grows meanwhile (STEADY), and a new spell begins. Sound late for that long, with no pause
   * between its pieces as a held main thread leaves (OLD_PAUSE_S) and its lag steady, comes from
   * a decoder that holds it (a slow device), and skipped, it would be gone for good: the bound
   * grows by the most it lagged in the spell, and a step for jitter, instead. Only the lag it
   * gained after it arrived counts (less its `backlog`): sound that came old is skipped.
   */
  #old(s, excess, backlog, now) {
    if (!(excess > 0)) {
      s.oldFrom = null;
      return false;
    }
    // Its lag when it arrived is no decoder's: on a starved core, a start's burst comes out of
    // the decoder at the pace it plays, so its lag beyond the newest stays steady, as a slow
    // decoder's does, and was allowed as one (2.2 s, for the 20 s a corpus page played).
    excess -= backlog;
    if (!(excess > 0)) return true;
    const spell = now - s.oldFrom;
    const spread = Math.max(s.oldMost, excess) - Math.min(s.oldLeast, excess);
    if (s.oldFrom === null || now - s.oldLast > OLD_PAUSE_S || (spell >= MAX_BEHIND_S && spread >= STEADY * spell)) {
      s.oldFrom = now;
      s.oldMost = excess;
      s.oldLeast = excess;
    }
    s.oldLast = now;
    s.oldMost = Math.max(s.oldMost, excess);
    s.oldLeast = Math.min(s.oldLeast, excess);
    if (now - s.oldFrom < MAX_BEHIND_S) return true;
    s.decoderLag += s.oldMost + MARGIN_STEP_S;
    s.oldFrom = null;
    s.decoderNeed = 0;
    s.decoderFrom = now;
    return false;
  }

  /**
   * The decoder's allowance (`#old`) follows what its sound needs: after each CALM_S, it
   * comes down to the most the sound played meanwhile lagged beyond its bound, and a step,
   * or to nothing where none did. Otherwise a decoder that held its output once (a busy
   * spell, a burst decoded slowly) would have every stall's late sound kept, as latency,
   * for as long as the page plays.
   */
  #fitDecoderLag(s, excess, now) {
    if (s.decoderLag === 0) return;
    s.decoderNeed = Math.max(s.decoderNeed, excess);
    if (now - s.decoderFrom < CALM_S) return;
    s.decoderLag = Math.min(s.decoderLag, s.decoderNeed > 0 ? s.decoderNeed + MARGIN_STEP_S : 0);
    s.decoderNeed = 0;
    s.decoderFrom = now;
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
    const newest = s.newest ?? Infinity;
    // Neither clock runs past the media received, so where it comes late (a start on a
    // starved core, sound in bunches a second apart) the pictures wait for it, as a
    // <video>'s do, rather than run on and be put back when sound starts (again). A hole
    // in one track is no wait while the other goes on.
    if (!s.audioClock) {
      // The wall clock runs up to the next picture's time, so 1 fps pictures play on it smoothly.
      return Math.min(performance.now() / 1000 - s.offset, newest + s.frameMs / 1000);
    }
    // The sound being rendered, which the device plays out `audioLatency` later (40 ms in
    // headless Chromium, 150–250 ms over Bluetooth), less the part of that the pictures wait.
    return Math.min(this.#audio.currentTime - this.#wait - s.offset, newest);
  }

  /** The pictures' wait for a slow audio device, updated only by changes of 5 ms or more. */
  #syncWait() {
    if (!this.#audio) return;
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
    if (!s) return;
    if (this.#paused) {
      s.frameAt = null;
      return;
    }
    this.#progress(s, this.#show(s));
  }

  /** Draws the picture due now, if any; whether it did. */
  #show(s) {
    this.#feed(s, this.#clock(s) + DECODE_AHEAD_S);
    if (!s.pictures.length) return false;
    if (s.offset === null || (s.audioClock && this.#audio.state !== 'running')) {
      // Without sound: the wall clock, on which the newest media received is due now
      // (a start burst's older pictures are skipped as they decode). Not the newest
      // picture decoded: started at a burst's older one, it would keep that lag for good.
      s.audioClock = false;
      const picture = s.pictures[s.pictures.length - 1].timestamp / 1e6;
      s.offset ??= performance.now() / 1000 - (s.newestOf.video > picture ? s.newestOf.video : picture);
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
    if (!show && s.pictures.length >= MAX_PICTURES) show = s.pictures.shift();
    if (!show) return false;
    const c = this.#canvas;
    if (c.width !== show.displayWidth || c.height !== show.displayHeight) {
      c.width = show.displayWidth;
      c.height = show.displayHeight;
    }
    this.#g.drawImage(show, 0, 0, c.width, c.height);
    // The sound's context, made after this picture is on screen, not before it.
    if (!this.#audio && !s.drawn) setTimeout(() => this.#destroyed || this.#context(), 0);
    s.drawn++;
    s.shown = show.timestamp / 1e6;
    show.close();
    return true;
  }

  /**
   * Whether pictures keep coming (without them, VIDEO_GONE_MS, sound), each animation frame: the
   * time stuck, the stalls, and the `<video>`'s `waiting` and `playing`, by which a
   * page shows its state, as with MSE.
   */
  #progress(s, drew) {
    const now = performance.now();
    // A hidden tab has no animation frames: its time is not counted.
    const since = s.frameAt === null ? 0 : Math.min(now - s.frameAt, 1000);
    s.frameAt = now;
    if (drew) s.drawnAt = now;
    const sounding = s.audioAt !== null && s.audioAt > this.#audio.currentTime;
    const pictures = now - s.drawnAt <= Math.max(STILL_MS, STILL_FRAMES * s.frameMs);
    const gone = !s.configs.video || s.failed.has('video') || (s.drawn > 0 && now - s.drawnAt > VIDEO_GONE_MS);
    const moving = pictures || (gone && sounding);
    if (moving) {
      if (this.#stuck) {
        this.#stuck = false;
        this.#video.dispatchEvent(new Event('playing'));
      }
      return;
    }
    if (this.#stuck) {
      this.#counters.stuckMs += since;
      return;
    }
    // A stall: counted from when the next picture was due.
    this.#stuck = true;
    this.#counters.stalls++;
    const still = now - s.drawnAt - s.frameMs;
    this.#counters.stuckMs += Number.isFinite(still) ? Math.max(0, still) : since;
    this.#video.dispatchEvent(new Event('waiting'));
  }

  #tick() {
    this.#syncWait();
    this.#window.push([performance.now(), this.#counters.decoded]);
    if (this.#window.length > 4) this.#window.shift();
    this.#emit('stats', this.stats());
  }

  #closeStream() {
    const s = this.#stream;
    if (!s) return;
    this.#stream = null;
    for (const p of s.pictures.splice(0)) p.close();
    for (const d of [s.video, s.audio]) if (d && d.state !== 'closed') d.close();
  }
}

/**
 * The codec strings of the wasm's samples whose pictures the wasm decodes (the core's
 * `codec::picture::PictureCodec`): Sorenson Spark, Screen Video 1 and 2.
 */
const WASM_DECODED = new Set(['flv1', 'flashsv', 'flashsv2']);

let pictures = null;

/** The pictures module, loaded and started once. */
function picturesModule() {
  pictures ??= import('./flashless_pictures.js').then(
    async (m) => {
      await m.default();
      return m;
    },
    (e) => {
      pictures = null; // the next stream tries again
      throw e;
    },
  );
  return pictures;
}

function videoDecoderFor(config) {
  return WASM_DECODED.has(config?.codec) ? WasmVideoDecoder : VideoDecoder;
}

/**
 * Flash's codecs that no browser decodes (Sorenson Spark, Flash Player's camera;
 * Screen Video, its screen sharing): the package's pictures module decodes them
 * (`PictureDecoder`), behind as much of VideoDecoder's interface as this renderer uses,
 * each picture handed over as a VideoFrame of its samples. That module of its own
 * (`flashless_pictures.js` and its wasm) is loaded when a stream first needs it, so no
 * other page downloads it (the lean build's core reports the codecs unsupported
 * instead, so never asks).
 */
class WasmVideoDecoder extends EventTarget {
  static isConfigSupported(config) {
    return Promise.resolve({ supported: typeof globalThis.VideoFrame === 'function', config });
  }

  state = 'unconfigured';
  decodeQueueSize = 0;
  #output;
  #error;
  #decoder = null;
  #codec = null;
  #queue = [];

  constructor({ output, error }) {
    super();
    this.#output = output;
    this.#error = error;
  }

  configure({ codec }) {
    if (this.state === 'closed') throw new DOMException('closed', 'InvalidStateError');
    this.state = 'configured';
    if (codec === this.#codec) return;
    this.#codec = codec;
    this.#decoder?.free();
    this.#decoder = null;
    picturesModule().then(
      ({ PictureDecoder }) => {
        if (this.state === 'closed' || codec !== this.#codec) return;
        try {
          this.#decoder = new PictureDecoder(codec);
        } catch (e) {
          return this.#fail(e);
        }
        this.#drain();
      },
      (e) => this.#fail(e),
    );
  }

  decode(chunk) {
    if (this.state !== 'configured') throw new DOMException('not configured', 'InvalidStateError');
    this.#queue.push(chunk);
    this.decodeQueueSize = this.#queue.length;
    // Decoded after this task, as VideoDecoder's output comes.
    if (this.#queue.length === 1) queueMicrotask(() => this.#drain());
  }

  #drain() {
    while (this.#decoder && this.state === 'configured' && this.#queue.length) {
      const chunk = this.#queue.shift();
      this.decodeQueueSize = this.#queue.length;
      const data = new Uint8Array(chunk.byteLength);
      chunk.copyTo(data);
      let p;
      try {
        p = this.#decoder.decode(data, chunk.type === 'key');
      } catch (e) {
        return this.#fail(e);
      }
      const frame = new VideoFrame(p.data, {
        format: p.format,
        codedWidth: p.codedWidth,
        codedHeight: p.codedHeight,
        visibleRect: { x: 0, y: 0, width: p.width, height: p.height },
        displayWidth: p.width,
        displayHeight: p.height,
        timestamp: chunk.timestamp,
        duration: chunk.duration ?? undefined,
      });
      this.#output(frame);
      this.dispatchEvent(new Event('dequeue'));
    }
  }

  /** As VideoDecoder: an error closes the decoder, then says so. */
  #fail(e) {
    this.close();
    this.#error(e instanceof Error ? e : new Error(String(e)));
  }

  reset() {
    this.#queue.length = 0;
    this.decodeQueueSize = 0;
  }

  flush() {
    this.#drain();
    return Promise.resolve();
  }

  close() {
    this.state = 'closed';
    this.reset();
    this.#decoder?.free();
    this.#decoder = null;
    this.#codec = null;
  }
}

/**
 * A codec as WebCodecs' registry names it: MP3 is `mp3`, which Firefox alone accepts
 * (it refuses the `mp4a.6B` of MP3 in MP4), and Chromium as well.
 */
function registered(codec) {
  return /^mp4a\.(6b|69)$/i.test(codec) ? 'mp3' : codec;
}

/**
 * Whether the audio device's latency is not to be read: Gecko's `outputLatency` (and
 * `getOutputTimestamp()`, which subtracts it) asks its audio server from the page's main
 * thread, holding the audio graph's lock, until it has a value. Firefox ESR pages playing
 * WebCodecs sound here hung for good with their main thread in that call and the graph's
 * thread on the lock: 3 in 8 runs of the Firefox tests of `webcodecs.test.mjs` and
 * `legacy.test.mjs` with it read (also 1 s after the context ran, and once a second), none in
 * 22 without. So in Firefox the pictures do not wait for a slow device (Bluetooth).
 */
const LATENCY_READ_HANGS = typeof navigator === 'object' && /\bFirefox\//.test(navigator.userAgent);

/** How long after `currentTime` the audio device plays the sound out (s). */
function deviceLatency(ctx) {
  if (LATENCY_READ_HANGS) return ctx.baseLatency || 0;
  const out = ctx.getOutputTimestamp?.();
  if (!(out?.performanceTime > 0)) return (ctx.baseLatency || 0) + (ctx.outputLatency || 0);
  return ctx.currentTime - out.contextTime - (performance.now() - out.performanceTime) / 1000;
}

function newStream() {
  return {
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
    /** When the first sound was decoded (ms): see AUDIO_START_MS. */
    firstSound: null,
    /** How late sound arrives after its media time (s): the least and most this second, and the last seconds': see ARRIVAL_WINDOWS. */
    arrival: { end: 0, low: Infinity, high: -Infinity, past: [] },
    /** The sound fed to the decoder and not yet out: its media time and how late it arrived (s): see `#backlog`. */
    fed: [],
    offset: null,
    audioAt: null,
    audioClock: false,
    /** The first sound skipped as behind the clock, of those in a row (s): see `#behind`. */
    behindFrom: null,
    /** The first and the last sound skipped as old, of those in a row (the AudioContext's time), the most it lagged, and the lag allowed the decoder (s): see `#old`. */
    oldFrom: null,
    oldLast: 0,
    /** The least the spell's pieces lagged, for whether the lag is steady: see STEADY. */
    oldLeast: 0,
    oldMost: 0,
    decoderLag: 0,
    /** The most the sound played lagged beyond its bound since `decoderFrom` (the AudioContext's time): see `#fitDecoderLag`. */
    decoderNeed: 0,
    decoderFrom: 0,
    /** When the sound last ran out (the AudioContext's time), and whether it had shortly before: see REPEAT_S. */
    ranOutAt: -Infinity,
    ranOutAgain: false,
    /** Until when sound is played whole, not skipped as old (the AudioContext's time): see BUNCH_S. */
    wholeUntil: -Infinity,
    margin: MIN_MARGIN_S,
    /** The last underrun, or the margin's last step down (the AudioContext's time). */
    calmFrom: 0,
    leastAhead: Infinity,
    windowEnd: 0,
    surplus: 0,
    /** The rate the last sound was played at. */
    rate: 1,
    drawn: 0,
    /** The media time of the picture on screen (s). */
    shown: null,
    /** When a picture was last drawn, and the interval between the last two (ms). */
    drawnAt: -Infinity,
    frameMs: 0,
    /** The timestamp of the last picture decoded (µs). */
    lastPicture: NaN,
    /** The last animation frame (ms). */
    frameAt: null,
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
