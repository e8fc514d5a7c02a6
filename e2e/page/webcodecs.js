// The browser tests' page for `renderer: 'webcodecs'`: plays `?url=` and exposes
// `window.sample()`: the canvas the player drew to, a digest of its pixels, the
// AudioContext's clock as the player reports it, and the player's stats.
// `?renderer=` overrides `renderer: 'webcodecs'` (for `'auto'`).

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
// decoded, as a decoder on a slow device holds its output.
const audioDelayMs = Number(params.get('audioDelayMs'));
if (audioDelayMs > 0 && window.webcodecs) {
  const Decoder = AudioDecoder;
  window.AudioDecoder = class extends Decoder {
    constructor(init) {
      super({ ...init, output: (data) => setTimeout(() => init.output(data), audioDelayMs) });
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

/** The canvas the player drew to, read through a 64×48 copy: luma variance and a digest. */
function picture() {
  const canvas = document.querySelector('canvas[data-flashless="webcodecs"]');
  if (!canvas || !canvas.width) return { variance: 0, digest: 0, width: 0 };
  const copy = document.createElement('canvas');
  copy.width = 64;
  copy.height = 48;
  const g = copy.getContext('2d', { willReadFrequently: true });
  g.drawImage(canvas, 0, 0, 64, 48);
  const px = g.getImageData(0, 0, 64, 48).data;
  let sum = 0;
  let sq = 0;
  let digest = 0;
  for (let i = 0; i < px.length; i += 4) {
    const y = 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
    sum += y;
    sq += y * y;
    digest = (digest * 31 + px[i] + 7 * px[i + 1] + 13 * px[i + 2]) >>> 0;
  }
  const n = px.length / 4;
  return { variance: sq / n - (sum / n) ** 2, digest, width: canvas.width, videoHidden: video.hidden };
}

window.sample = () => ({
  at: performance.now(),
  picture: picture(),
  stats: window.player ? window.player.stats() : null,
  events: window.events.map((e) => e.name),
  errors: window.events.filter((e) => e.name === 'error').map((e) => e.detail.message),
});
