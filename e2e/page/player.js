// The browser tests' page: plays `?url=` with the package at `?pkg=` (default the
// gateway's `/pkg/flashless.js`) and exposes `window.sample()` for the tests.

import { installProbe } from './probe.js';

installProbe();

const params = new URLSearchParams(location.search);
const video = document.getElementById('video');
window.events = [];

// `?mse=managed`: only ManagedMediaSource, as on Safari for iOS. Where the engine
// has it (WebKit) it is the real one, its `startstreaming`/`endstreaming` kept in
// `window.streaming`; elsewhere MediaSource under that name.
if (params.get('mse') === 'managed') {
  const Managed = window.ManagedMediaSource || window.MediaSource;
  window.streaming = { native: Boolean(window.ManagedMediaSource), events: [], sources: [] };
  window.ManagedMediaSource = class extends Managed {
    constructor() {
      super();
      window.streaming.sources.push(this);
      for (const name of ['startstreaming', 'endstreaming']) {
        this.addEventListener(name, () => window.streaming.events.push({ name, at: video.currentTime }));
      }
    }
  };
  delete window.MediaSource;
}

// `?mse=none`: neither MediaSource nor ManagedMediaSource, as on iPhones before iOS 17.1.
if (params.get('mse') === 'none') {
  delete window.MediaSource;
  delete window.ManagedMediaSource;
}

// The frame callbacks the player asks for (the page's own `count` below aside): one per
// stats sample, not one per picture, which would make the browser run its rendering
// steps on the main thread at every picture.
let playerFrameRequests = 0;
if ('requestVideoFrameCallback' in video) {
  const request = HTMLVideoElement.prototype.requestVideoFrameCallback;
  HTMLVideoElement.prototype.requestVideoFrameCallback = function (callback) {
    if (callback.name !== 'count') playerFrameRequests++;
    return request.call(this, callback);
  };
}

try {
  const { Player } = await import(params.get('pkg') || '/pkg/flashless.js');
  const player = await Player.create(video, {
    url: params.get('url'),
    transport: params.get('transport') || undefined,
    renderer: params.get('renderer') || undefined,
    liveLatency: Number(params.get('latency') || 0.5),
  });
  for (const name of ['error', 'reconnecting', 'reconnected', 'codecs', 'metadata', 'scriptdata', 'autoplayblocked']) {
    player.on(name, (detail) => window.events.push({ name, detail, at: performance.now() }));
  }
  window.player = player;
  window.ready = true;
} catch (e) {
  window.failure = String(e && e.stack ? e.stack : e);
}

// Frames shown, counted by the page: WebKitGTK's totalVideoFrames starts again
// at each playbackRate change, which the live-latency control makes.
let presented = 0;
if ('requestVideoFrameCallback' in video) {
  const count = () => {
    presented++;
    video.requestVideoFrameCallback(count);
  };
  video.requestVideoFrameCallback(count);
}

window.sample = () => {
  const q = video.getVideoPlaybackQuality();
  const b = video.buffered;
  const bufferedEnd = b.length ? b.end(b.length - 1) : NaN;
  return {
    currentTime: video.currentTime,
    // When currentTime was read, on the page's clock: the time between two samples, free
    // of the test driver's round trips (slow and uneven in a loaded WebDriver engine).
    at: performance.now(),
    bufferedStart: b.length ? b.start(0) : NaN,
    bufferedEnd,
    ahead: bufferedEnd - video.currentTime,
    frames: 'requestVideoFrameCallback' in video ? presented : q.totalVideoFrames,
    playerFrameRequests,
    decoded: q.totalVideoFrames,
    dropped: q.droppedVideoFrames,
    paused: video.paused,
    readyState: video.readyState,
    width: video.videoWidth,
    variance: window.__probe.picture(video)?.variance ?? 0,
    tone: window.__probe.tone(video),
    stats: window.player ? window.player.stats() : null,
    events: window.events.map((e) => e.name),
    errors: window.events.filter((e) => e.name === 'error').map((e) => e.detail.message),
    loadId: window.loadId,
  };
};
window.loadId ??= Math.random();
