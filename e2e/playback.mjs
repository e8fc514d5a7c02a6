// How well a page plays, whatever the player: a recorder added to the page before its
// own scripts notes the <video>'s time, buffer, seeks and the end of its audio
// SourceBuffer five times a second (with `renderer: 'webcodecs'`, the same from the
// player's stats, and the pictures drawn), and `judge` turns the record into seconds
// played of seconds watched. Shared by the
// corpus of nasty streams (`corpus.test.mjs`) and its comparison with other players
// (`cargo xtask bench corpus`, `lab/browser/corpus.mjs`).

/** Added to the page before its scripts (`page.addInitScript(recorder)`). */
export function recorder() {
  const state = { log: [], seeks: [], seekingSince: null, started: null };
  window.__playback = state;
  // Every SourceBuffer the page's player creates, with its type: whether audio
  // plays is seen from the audio one's buffered end, whatever the player.
  const buffers = [];
  for (const name of ['MediaSource', 'ManagedMediaSource']) {
    const proto = window[name]?.prototype;
    if (!proto?.addSourceBuffer) continue;
    const add = proto.addSourceBuffer;
    proto.addSourceBuffer = function (type) {
      const sb = add.call(this, type);
      buffers.push([String(type), sb]);
      return sb;
    };
  }
  const audioEnd = () => {
    let end = NaN;
    for (const [type, sb] of buffers) {
      if (!type.startsWith('audio/')) continue;
      try {
        const b = sb.buffered;
        if (b.length) end = Math.max(Number.isNaN(end) ? -Infinity : end, b.end(b.length - 1));
        else if (Number.isNaN(end)) end = -1;
      } catch {
        // Removed from its MediaSource: no longer plays.
      }
    }
    return end;
  };
  const video = () => document.querySelector('video');
  let hooked = null;
  // WebCodecs draws to a canvas and plays sound on an AudioContext: its clock, newest
  // media, the end of the sound scheduled (media time), the pictures drawn, and, for a
  // record's reader, the decoder's allowance and the sound skipped, run out and played.
  let soundEnd = NaN;
  const webcodecs = (now, s) => {
    if (s.audioAhead > 0) soundEnd = s.currentTime + s.audioAhead;
    state.log.push([now, s.currentTime, s.currentTime + s.latency, 0, 0, soundEnd, s.drawnFrames ? 4 : 0, s.drawnFrames, s.decodedFrames, s.droppedFrames, s.decoderLag, s.audioSkipped, s.audioUnderruns, s.targetLatency, s.audioFrames]);
    if (state.started === null && s.drawnFrames > 0 && s.currentTime > 0.1) state.started = now;
  };
  setInterval(() => {
    const s = window.player?.stats?.();
    if (s?.renderer === 'webcodecs') return webcodecs(performance.now(), s);
    const v = video();
    if (!v) return;
    const now = performance.now();
    if (hooked !== v) {
      hooked = v;
      v.addEventListener('seeking', () => {
        state.seekingSince ??= performance.now();
      });
      v.addEventListener('seeked', () => {
        if (state.seekingSince !== null) state.seeks.push([state.seekingSince, performance.now()]);
        state.seekingSince = null;
      });
    }
    const b = v.buffered;
    const end = b.length ? b.end(b.length - 1) : NaN;
    state.log.push([now, v.currentTime, end, v.paused ? 1 : 0, v.seeking ? 1 : 0, audioEnd(), v.readyState]);
    if (state.started === null && v.currentTime > 0.1 && !v.paused && v.readyState >= 3) state.started = now;
  }, 200);
}

/**
 * Waits up to `startLimitMs` for the first frame, records `seconds` from it, and judges
 * them (`judge`, then `verdict` with `audio`, `stillMs`, `backS` and `playedShare`); the record is in
 * the result as `rec`.
 */
export async function watch(page, { seconds, latencyS, playedShare, audio = false, stillMs, backS, startLimitMs = 25_000 }) {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const deadline = Date.now() + startLimitMs;
  let rec = await record(page);
  while (!rec?.started && Date.now() < deadline) {
    await sleep(500);
    rec = await record(page);
  }
  if (!rec?.started) return { started: false, reasons: [`no playback within ${startLimitMs} ms`] };
  await sleep(Math.max(0, rec.started + (seconds + 0.5) * 1000 - rec.now));
  rec = await record(page);
  const j = judge(rec, { from: rec.started, seconds, latencyS });
  return { started: true, ...j, reasons: verdict(j, { audio, stillMs, backS, playedShare }), rec };
}

/** The record so far, from the page. */
export function record(page) {
  return page.evaluate(() => {
    const s = window.__playback;
    return s ? { log: s.log, seeks: s.seeks, seekingSince: s.seekingSince, started: s.started, now: performance.now() } : null;
  });
}

/**
 * Judges `seconds` one-second windows of `rec` from page time `from` (ms):
 * - a window plays when currentTime advances ≥ 0.8 s in it; one where it jumps
 *   (backwards, or ahead by over a second more than the wall clock) is a
 *   discontinuity, left out of the count;
 * - the seconds lost in the windows that did not play (`lostS`: each one's shortfall
 *   from the wall clock, at most its second), what a viewer waited: a stall of half a
 *   second across two windows' border stalls both, and loses half a second;
 * - the longest seek pending, in ms (one still pending counts until now);
 * - the longest run above `latencyS` of buffered end − currentTime, in ms, and
 *   its median (`latencyS` of the result), for comparing runs;
 * - how far the end of the audio SourceBuffer advanced (`audioS`; null when the
 *   player made none);
 * - with WebCodecs, the longest time no new picture was drawn (`stillMs`; null
 *   for a <video>, whose currentTime says it);
 * - the most currentTime went back (`backS`; a <video>'s goes back to 0 in a new
 *   MediaSource).
 */
export function judge(rec, { from, seconds, latencyS }) {
  const windows = [];
  let lost = 0;
  const at = (t) => {
    let best = null;
    for (const s of rec.log) {
      if (s[0] > t + 150) break;
      best = s;
    }
    return best;
  };
  for (let i = 0; i < seconds; i++) {
    const a = at(from + i * 1000);
    const b = at(from + (i + 1) * 1000);
    if (!a || !b || b[0] <= a[0]) {
      windows.push('stuck');
      lost += 1;
      continue;
    }
    const wall = (b[0] - a[0]) / 1000;
    const moved = b[1] - a[1];
    if (moved < -0.5 || moved > wall + 1) windows.push('jump');
    else if (moved >= 0.8 * wall) windows.push('played');
    else {
      windows.push('stuck');
      lost += Math.min(1, wall - Math.max(0, moved));
    }
  }
  const until = from + seconds * 1000;
  const seeks = rec.seeks.filter(([s, e]) => e >= from && s <= until).map(([s, e]) => e - s);
  if (rec.seekingSince !== null) seeks.push(rec.now - rec.seekingSince);
  let run = 0;
  let worstRun = 0;
  let last = null;
  const latencies = [];
  let audioFrom = null;
  let audioTo = null;
  let still = null;
  let lastDrawn = null;
  let back = 0;
  let lastCt = null;
  for (const [t, ct, end, , , audio, , drawn] of rec.log) {
    if (t < from || t > until) continue;
    if (lastCt !== null && ct < lastCt) back = Math.max(back, lastCt - ct);
    lastCt = ct;
    if (drawn !== undefined) {
      if (lastDrawn === null || drawn > lastDrawn.n) lastDrawn = { n: drawn, t };
      still = Math.max(still ?? 0, t - lastDrawn.t);
    }
    const behind = !(end - ct <= latencyS);
    run = behind && last !== null ? run + (t - last) : 0;
    worstRun = Math.max(worstRun, run);
    last = t;
    if (Number.isFinite(end - ct)) latencies.push(end - ct);
    if (Number.isFinite(audio)) {
      audioFrom ??= audio;
      audioTo = audio;
    }
  }
  latencies.sort((a, b) => a - b);
  const jumps = windows.filter((w) => w === 'jump').length;
  const played = windows.filter((w) => w === 'played').length;
  return {
    watched: seconds,
    played,
    jumps,
    counted: seconds - jumps,
    lostS: Math.round(lost * 100) / 100,
    maxSeekMs: Math.round(Math.max(0, ...seeks)),
    latencyRunMs: Math.round(worstRun),
    latencyS: latencies.length ? Math.round(latencies[latencies.length >> 1] * 1000) / 1000 : null,
    audioS: audioFrom === null ? null : Math.round(Math.max(0, audioTo - audioFrom) * 10) / 10,
    stillMs: still === null ? null : Math.round(still),
    backS: Math.round(back * 1000) / 1000,
    windows: windows.map((w) => w[0]).join(''),
  };
}

/**
 * The corpus test's bar: at most 10 % (1 − `playedShare`) of the counted seconds lost to stalls, no seek over 1 s, latency
 * back within 3 s, with `audio`, an audio SourceBuffer (or WebCodecs' sound) whose
 * media went on for at least half the seconds watched (a stream with audio plays
 * audio), and with WebCodecs, no picture shown for longer than `stillMs` and the
 * clock never put back more than `backS` (a start's step from the wall clock to the sound's).
 */
export function verdict(j, { audio = false, stillMs = 1500, backS = 0.2, playedShare = 0.9 } = {}) {
  const reasons = [];
  if (j.stillMs !== null && j.stillMs > stillMs) reasons.push(`no new picture for ${j.stillMs} ms`);
  if (j.stillMs !== null && j.backS > backS) reasons.push(`the clock put back ${j.backS} s`);
  if (audio && j.audioS === null) reasons.push('no audio SourceBuffer');
  else if (audio && j.audioS < 0.5 * j.watched) reasons.push(`audio advanced only ${j.audioS} s`);
  if (j.lostS > (1 - playedShare) * j.counted + 1e-9) reasons.push(`lost ${j.lostS} s of ${j.counted} to stalls (${j.played} s played)`);
  if (j.maxSeekMs > 1000) reasons.push(`a seek pending ${j.maxSeekMs} ms`);
  if (j.latencyRunMs > 3000) reasons.push(`latency over its bound for ${j.latencyRunMs} ms`);
  return reasons;
}
