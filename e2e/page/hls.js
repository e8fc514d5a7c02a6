// The hls.js page: plays `?url=` (a flashless index.m3u8) with hls.js in low-latency
// mode and exposes `window.sample()` for the tests: time, frames, and hls.js's own
// latency figure (seconds from the playhead to the live edge of the playlist).
// `&debug` turns on hls.js's own log (in the browser's console).

const params = new URLSearchParams(location.search);
// Every request is counted (`skips` below): the default buffer keeps only 250.
performance.setResourceTimingBufferSize(100_000);
const video = document.getElementById('video');
window.events = [];

try {
  if (!window.Hls || !window.Hls.isSupported()) throw new Error('hls.js is not supported here');
  const hls = new window.Hls({ lowLatencyMode: true, backBufferLength: 10, debug: params.has('debug') });
  for (const name of [window.Hls.Events.ERROR]) {
    hls.on(name, (_, data) => window.events.push({ name, fatal: data.fatal, details: data.details, at: performance.now() }));
  }
  hls.loadSource(params.get('url'));
  hls.attachMedia(video);
  hls.on(window.Hls.Events.MANIFEST_PARSED, () => video.play().catch(() => {}));
  window.hls = hls;
  window.ready = true;
} catch (e) {
  window.failure = String(e && e.stack ? e.stack : e);
}

window.sample = () => {
  const q = video.getVideoPlaybackQuality?.();
  const b = video.buffered;
  return {
    currentTime: video.currentTime,
    paused: video.paused,
    frames: q ? q.totalVideoFrames : 0,
    ahead: b.length ? b.end(b.length - 1) - video.currentTime : 0,
    latency: window.hls?.latency ?? NaN,
    targetLatency: window.hls?.targetLatency ?? NaN,
    lowLatency: Boolean(window.hls?.lowLatencyMode),
    partTarget: window.hls?.levels?.[0]?.details?.partTarget ?? NaN,
    errors: window.events.filter((e) => e.fatal),
    // Playlist reloads that asked for a delta update (`_HLS_skip`).
    skips: performance.getEntriesByType('resource').filter((e) => e.name.includes('_HLS_skip=')).length,
  };
};
