// The browser tests' page: plays `?url=` with the package at `?pkg=` (default the
// gateway's `/pkg/flashless.js`) and exposes `window.sample()` for the tests.

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

// Sound: the element's audio through an analyser (started on the first sample,
// once the page may run an AudioContext).
let audio;
function analyser() {
  if (!audio) {
    const context = new AudioContext();
    const node = context.createAnalyser();
    node.fftSize = 4096;
    context.createMediaElementSource(video).connect(node);
    node.connect(context.destination);
    context.resume();
    audio = { context, node, bins: new Float32Array(node.frequencyBinCount) };
  }
  return audio;
}

/** Energy at 1 kHz and at the loudest bin against the median bin, in dB, and the loudest bin's frequency. */
function tone() {
  const { context, node, bins } = analyser();
  // A context the engine left suspended (WebKitGTK, once in a while under load) is asked
  // again; its state is reported, so a silent analyser says why.
  if (context.state === 'suspended') context.resume();
  node.getFloatFrequencyData(bins);
  const hz = context.sampleRate / node.fftSize;
  const at = Math.round(1000 / hz);
  const near = Math.max(...bins.slice(at - 2, at + 3));
  const sorted = [...bins].filter(Number.isFinite).sort((a, b) => a - b);
  const median = sorted.length ? sorted[sorted.length >> 1] : -Infinity;
  let loudest = 0;
  bins.forEach((v, i) => {
    if (v > bins[loudest]) loudest = i;
  });
  return { at1k: near, median, loudestHz: loudest * hz, contrast: near - median, peakContrast: bins[loudest] - median, state: context.state };
}

/** Variance of the luma of a 64×48 copy of the current frame: 0 for a black or flat picture. */
function pictureVariance() {
  if (!video.videoWidth) return 0;
  const canvas = document.createElement('canvas');
  canvas.width = 64;
  canvas.height = 48;
  const g = canvas.getContext('2d', { willReadFrequently: true });
  g.drawImage(video, 0, 0, 64, 48);
  const px = g.getImageData(0, 0, 64, 48).data;
  let sum = 0;
  let sq = 0;
  const n = px.length / 4;
  for (let i = 0; i < px.length; i += 4) {
    const y = 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
    sum += y;
    sq += y * y;
  }
  return sq / n - (sum / n) ** 2;
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
    variance: pictureVariance(),
    tone: tone(),
    stats: window.player ? window.player.stats() : null,
    events: window.events.map((e) => e.name),
    errors: window.events.filter((e) => e.name === 'error').map((e) => e.detail.message),
    loadId: window.loadId,
  };
};
window.loadId ??= Math.random();
