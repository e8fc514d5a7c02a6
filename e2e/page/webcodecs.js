// The browser tests' page for `renderer: 'webcodecs'`: plays `?url=` and exposes
// `window.sample()`: the canvas the player drew to, a digest of its pixels, the
// AudioContext's clock as the player reports it, and the player's stats.
// `?renderer=` overrides `renderer: 'webcodecs'` (for `'auto'`).

import { installProbe } from './probe.js';

installProbe();

const params = new URLSearchParams(location.search);
const video = document.getElementById('video');
window.events = [];
window.webcodecs = typeof VideoDecoder === 'function' && typeof AudioDecoder === 'function';

// `?deviceLatency=S`: the AudioContext says its device plays out S seconds after
// `currentTime` (as over Bluetooth), for the test of the pictures' sync to the sound heard.
const deviceLatency = Number(params.get('deviceLatency'));
if (deviceLatency > 0) {
  AudioContext.prototype.getOutputTimestamp = function () {
    return { contextTime: Math.max(0, this.currentTime - deviceLatency), performanceTime: performance.now() };
  };
}

// `?audioDelayMs=N`: the AudioDecoder hands each piece of sound over N ms after it is
// decoded, as a decoder on a slow device holds its output; `window.audioDelayMs` changes
// it as the page plays (the pieces still come in order).
// `?audioRate=R`: it hands sound over at most R times as fast as it plays, as a decoder
// on a starved core works off a start's burst; `&audioRateMs=N`: only what it decoded in
// the first N ms (the burst), the core free again after.
window.audioDelayMs = Number(params.get('audioDelayMs'));
const audioRate = Number(params.get('audioRate'));
const audioRateMs = Number(params.get('audioRateMs')) || Infinity;
if ((window.audioDelayMs > 0 || audioRate > 0) && window.webcodecs) {
  const Decoder = AudioDecoder;
  window.AudioDecoder = class extends Decoder {
    constructor(init) {
      let due = 0;
      let first = null;
      super({
        ...init,
        output: (data) => {
          first ??= performance.now();
          const paced = audioRate > 0 && performance.now() - first < audioRateMs;
          const spacing = paced ? data.duration / 1000 / audioRate : 0;
          due = Math.max(due + spacing, performance.now() + window.audioDelayMs);
          setTimeout(() => init.output(data), due - performance.now());
        },
      });
    }
  };
}

// `?rafMs=N`: animation frames every N ms, as a browser busy with other pages sends them.
const rafMs = Number(params.get('rafMs'));
if (rafMs > 0) {
  window.requestAnimationFrame = (f) => setTimeout(() => f(performance.now()), rafMs);
  window.cancelAnimationFrame = (id) => clearTimeout(id);
}

try {
  const { Player } = await import(params.get('pkg') || '/pkg/flashless.js');
  const player = await Player.create(video, { url: params.get('url'), renderer: params.get('renderer') || 'webcodecs' });
  for (const name of ['error', 'reconnecting', 'reconnected', 'codecs', 'metadata', 'autoplayblocked']) {
    player.on(name, (detail) => window.events.push({ name, detail, at: performance.now() }));
  }
  // What a page that shows its state by the <video>'s events sees.
  for (const name of ['waiting', 'playing']) {
    video.addEventListener(name, () => window.events.push({ name: `video:${name}`, at: performance.now() }));
  }
  window.player = player;
  window.ready = true;
} catch (e) {
  window.failure = String(e && e.stack ? e.stack : e);
}

/** The canvas the player drew to: luma mean and variance, saturation and a digest of a 64×48 copy. */
function picture() {
  const canvas = document.querySelector('canvas[data-flashless="webcodecs"]');
  const p = window.__probe.picture(canvas);
  return {
    mean: p ? p.mean : 0,
    variance: p ? p.variance : 0,
    saturation: p ? p.saturation : 0,
    digest: p ? p.digest : 0,
    width: p ? canvas.width : 0,
    videoHidden: video.hidden,
  };
}

window.sample = () => ({
  at: performance.now(),
  picture: picture(),
  stats: window.player ? window.player.stats() : null,
  events: window.events.map((e) => e.name),
  errors: window.events.filter((e) => e.name === 'error').map((e) => e.detail.message),
});
