// Native HLS, the player where MSE is missing: `flashless.js` imports this module only
// there, so that a page playing through MSE never downloads it.

/**
 * The HLS playlist of the same channel on a flashless gateway:
 * `ws://host/live/cam.flv?token=…` → `http://host/live/cam/index.m3u8?token=…`.
 */
function hlsUrl(url) {
  const u = new URL(url);
  u.protocol = u.protocol === 'wss:' || u.protocol === 'https:' ? 'https:' : 'http:';
  u.pathname = u.pathname.replace(/\.flv$/, '') + '/index.m3u8';
  return u.href;
}

/**
 * From the first second without progress while meant to play, native HLS has its
 * playlist read, and read again this many seconds after: if it grew meanwhile and the
 * playhead has not moved forward a quarter of that, the element is stuck, not waiting
 * for the source, and its source is loaded again.
 */
const STALL_S = 4;

/**
 * The delay (ms) before retry `attempt` (1 for the first), or `null` to give up: the
 * `retry` option, a policy function or bounds, with the wasm player's defaults
 * (`web/src/player/retry.rs`: 0.5 s doubling up to 8 s, jittered; forever).
 */
function retryDelay(retry, attempt, error) {
  const bound = (key, fallback) => (typeof retry?.[key] === 'number' && retry[key] >= 0 ? retry[key] : fallback);
  const min = bound('minDelayMs', 500);
  const backoff = Math.min(min * 2 ** Math.min(attempt - 1, 16), Math.max(bound('maxDelayMs', 8000), min));
  const fallback = error.fatal || attempt > bound('maxAttempts', Infinity) ? null : backoff * (0.8 + 0.4 * Math.random());
  if (typeof retry !== 'function') return fallback;
  const delay = retry({ ...error, attempt, defaultDelayMs: fallback });
  return typeof delay === 'number' && delay >= 0 ? delay : null;
}

/**
 * The player where the browser has neither MediaSource nor ManagedMediaSource but plays
 * HLS in the `<video>` (iPhones before iOS 17.1, TVs, set-top boxes): the channel's
 * HLS from the same gateway, set as the element's `src`. The same surface as the wasm
 * player, and its events where they apply: `open`, `stats` each second, `error`,
 * `reconnecting` and `reconnected`, `autoplayblocked`.
 *
 * The element is watched as the wasm player watches its connection. One that stops, or
 * whose timeline keeps starting again at 0, while the channel's playlist grows (WebKit's
 * GStreamer at a start now and then), drops nearly every frame (GStreamer after a
 * publisher's restart), or fails, gets its source loaded again, with the `retry` option's
 * backoff; one whose channel has no new media waits for it. A failure the gateway meant
 * (the playlist answered 401, 403 or 404) is fatal, as it is for the wasm player.
 */
export class NativeHls {
  #video;
  #emit;
  #hls;
  #src;
  #autoplay;
  #retry;
  #timer;
  #pending = 0;
  /** Retries since the element last played, and reloads in all. */
  #attempt = 0;
  #reconnects = 0;
  /**
   * The playhead at the last tick (`NaN` just after a load), ticks since it last moved
   * forward, and the seconds it moved forward since the source was set: a playhead that
   * goes back (WebKitGTK's GStreamer restarting its timeline at 0) is not playing.
   */
  #last = NaN;
  #still = 0;
  #progress = 0;
  /** Sources set in all, so that a stall check outlived by its source ends; one checking. */
  #loads = 0;
  #checking = false;
  /** Frames counted (total, dropped) and when, `STALL_S` ago; when `#late` last said so. */
  #frames = null;
  #lateAt = -Infinity;
  #onError = () => this.#failed();

  constructor(video, options, emit) {
    this.#video = video;
    this.#emit = emit;
    this.#hls = typeof options.hls === 'string' ? options.hls : null;
    this.#autoplay = options.autoplay !== false;
    this.#retry = options.retry;
    video.addEventListener('error', this.#onError);
    this.#timer = setInterval(() => {
      this.#watch();
      this.#emit('stats', this.stats());
    }, 1000);
    this.load(options.url);
    setTimeout(() => this.#emit('open', undefined), 0);
  }

  stats() {
    const v = this.#video;
    const end = v.seekable.length ? v.seekable.end(v.seekable.length - 1) : NaN;
    const ahead = v.buffered.length ? v.buffered.end(v.buffered.length - 1) - v.currentTime : NaN;
    const quality = v.getVideoPlaybackQuality?.();
    return {
      latency: end - v.currentTime,
      buffered: ahead,
      decodedFrames: quality?.totalVideoFrames ?? NaN,
      droppedFrames: quality?.droppedVideoFrames ?? NaN,
      playbackRate: v.playbackRate,
      currentTime: v.currentTime,
      codecs: null,
      reconnects: this.#reconnects,
      native: 'hls',
    };
  }

  jumpToLive() {
    const v = this.#video;
    if (v.seekable.length) v.currentTime = v.seekable.end(v.seekable.length - 1);
  }

  load(url) {
    clearTimeout(this.#pending);
    this.#pending = 0;
    this.#attempt = 0;
    this.#src = this.#hls ?? hlsUrl(url);
    this.#hls = null;
    this.#start(this.#autoplay);
  }

  /** Sets the source; `play`: plays it (loading a source pauses the element). */
  #start(play) {
    this.#last = NaN;
    this.#still = 0;
    this.#progress = 0;
    this.#loads++;
    this.#frames = null;
    this.#video.src = this.#src;
    if (!play) return;
    this.#video.play()?.catch((e) => {
      if (e?.name === 'NotAllowedError') this.#emit('autoplayblocked', undefined);
    });
  }

  /**
   * Each second: progress ends a recovery; a playhead that stopped or went back while the
   * playlist grows, or nearly every frame dropped, starts one.
   */
  #watch() {
    const v = this.#video;
    // Not `ended`: WebKitGTK says a live playlist ended while it plays; a playlist that
    // did end does not grow, which `#checkStall` sees.
    if (this.#pending || !v.getAttribute('src') || v.paused) {
      this.#still = 0;
      return;
    }
    const t = v.currentTime;
    if (t > this.#last) {
      if (this.#attempt) {
        this.#emit('reconnected', { attempt: this.#attempt });
        this.#attempt = 0;
      }
      this.#progress += t - this.#last;
      this.#still = 0;
    } else if (!Number.isNaN(this.#last)) {
      this.#still++;
    }
    this.#last = t;
    // Once it has played, the playlist is read at the first tick without progress and
    // again `STALL_S` later: a stuck element is reloaded about 5 s after it stopped. A
    // start that is slow to come keeps the longer wait.
    if (!this.#checking && this.#still >= (this.#progress > 0 ? 1 : STALL_S)) this.#checkStall();
    if (this.#late(v.getVideoPlaybackQuality?.())) {
      this.#recover({ type: 'media', details: 'stalled', fatal: false, track: null });
    }
  }

  /**
   * Whether nearly every frame of the last `STALL_S` seconds was dropped: a clock
   * that ran on while the media stopped (WebKit's GStreamer, after a publisher's restart)
   * takes every frame after for late. Once a minute at most, so that a device too slow
   * for the stream is not reloaded over and over.
   */
  #late(quality) {
    if (!quality) return false;
    const now = [quality.totalVideoFrames, quality.droppedVideoFrames, performance.now()];
    const then = this.#frames;
    if (then && now[2] - then[2] < STALL_S * 1000) return false;
    this.#frames = now;
    if (!then || now[2] - this.#lateAt < 60_000) return false;
    const [total, dropped] = [now[0] - then[0], now[1] - then[1]];
    // `totalVideoFrames` counts the dropped ones too, but not in WebKitGTK.
    const shown = total >= dropped ? total - dropped : total;
    if (dropped < 10 || dropped <= 3 * shown) return false;
    this.#lateAt = now[2];
    return true;
  }

  /**
   * The playlist now and `STALL_S` later: different while the playhead moved forward less
   * than a quarter of that time (stood, or went back and forth), a stall. Not while its
   * pictures alone move: a playhead that stands or starts again at 0 (WebKitGTK's, once
   * in a while at a start or after a publisher came back) fails a page that follows it.
   */
  async #checkStall() {
    const [src, loads, progress] = [this.#src, this.#loads, this.#progress];
    const read = () => fetch(src, { cache: 'no-store' }).then((r) => (r.ok ? r.text() : ''), () => '');
    this.#checking = true;
    const before = await read();
    await new Promise((resolve) => setTimeout(resolve, STALL_S * 1000));
    const after = await read();
    this.#checking = false;
    // Reloaded, paused or played meanwhile: not this stall's to end.
    if (src !== this.#src || loads !== this.#loads || this.#pending || this.#video.paused) return;
    if (this.#progress - progress >= STALL_S / 4) return;
    if (after && after !== before) this.#recover({ type: 'media', details: 'stalled', fatal: false, track: null });
  }

  /**
   * The element failed: the playlist is asked for again to learn why, as the wasm player
   * asks a WebSocket's URL over HTTP. The gateway's refusals are fatal, and so is a
   * decoder that gave up again before playing; the rest (a channel not live yet, a lost
   * connection) is retried.
   */
  async #failed() {
    if (this.#pending || !this.#video.getAttribute('src')) return;
    const src = this.#src;
    const status = await fetch(src, { cache: 'no-store' }).then((r) => r.status, () => 0);
    if (src !== this.#src || this.#pending) return;
    const refused = { 401: 'unauthorized', 403: 'forbidden', 404: 'not-found' }[status];
    const details = refused ?? (status >= 400 ? 'http-status' : status ? 'decode' : 'connection');
    const fatal = Boolean(refused) || (details === 'decode' && this.#attempt > 0);
    const error = { type: details === 'decode' ? 'media' : 'network', details, fatal, track: null };
    if (status >= 400) error.httpStatus = status;
    this.#recover(error);
  }

  #recover(error) {
    const playing = !this.#video.paused;
    const attempt = this.#attempt + 1;
    const delay = retryDelay(this.#retry, attempt, error);
    if (delay === null) {
      this.#emit('error', { ...error, fatal: true });
      this.#stop();
      return;
    }
    this.#attempt = attempt;
    this.#reconnects++;
    this.#emit('reconnecting', { attempt, delay: delay / 1000, reason: error.details, error });
    this.#stop();
    this.#pending = setTimeout(() => {
      this.#pending = 0;
      this.#start(playing);
    }, delay);
  }

  #stop() {
    this.#video.removeAttribute('src');
    this.#video.load();
  }

  unload() {
    clearTimeout(this.#pending);
    this.#pending = 0;
    // A playlist read or status asked for before it answers to no source.
    this.#src = null;
    this.#stop();
  }

  destroy() {
    clearInterval(this.#timer);
    this.#video.removeEventListener('error', this.#onError);
    this.unload();
  }

  free() {}
}

