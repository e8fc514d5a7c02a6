// The native-HLS fallback's watchdog (`nativehls.js`) in Node, against a real playlist
// server and an element whose playhead follows a script: the faults it is for come from
// WebKitGTK's GStreamer once in several runs (`e2e/nativehls.test.mjs` plays the real
// thing), so here each is played on demand.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';

import { NativeHls } from '../nativehls.js';

/** A playlist server on loopback whose playlist grows each second, or not (`grows`). */
async function playlists(t, grows) {
  const started = Date.now();
  const server = createServer((req, res) => {
    const sequence = grows ? Math.floor((Date.now() - started) / 1000) : 0;
    res.end(`#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:${sequence}\n#EXTINF:1,\n${sequence}.m4s\n`);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  return `ws://127.0.0.1:${server.address().port}/live/cam.flv`;
}

/**
 * The little of a `<video>` the player uses; its playhead is `script(seconds since its
 * source was set, sources set before it)`, so that a script can play a reloaded element
 * otherwise.
 */
class ScriptedVideo extends EventTarget {
  paused = true;
  playbackRate = 1;
  seekable = { length: 0 };
  buffered = { length: 0 };
  #src = null;
  #setAt = 0;
  #loads = -1;
  constructor(script) {
    super();
    this.script = script;
  }
  set src(url) {
    this.#src = url;
    this.#setAt = performance.now();
    this.#loads++;
  }
  getAttribute(name) {
    return name === 'src' ? this.#src : null;
  }
  removeAttribute() {
    this.#src = null;
  }
  load() {
    this.paused = true;
  }
  play() {
    this.paused = false;
    return Promise.resolve();
  }
  get currentTime() {
    return this.#src ? this.script((performance.now() - this.#setAt) / 1000, this.#loads) : 0;
  }
}

/** Plays `script` for `seconds` against a playlist that grows or not; the player's events but `open` and `stats`. */
async function watch(t, { script, grows = true, seconds }) {
  const url = await playlists(t, grows);
  const events = [];
  const player = new NativeHls(new ScriptedVideo(script), { url, retry: { minDelayMs: 100, maxDelayMs: 100 } }, (name, detail) => {
    if (name !== 'stats' && name !== 'open') events.push({ name, detail });
  });
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  player.destroy();
  return events;
}

test('the watchdog of native HLS', { concurrency: true }, async (t) => {
  const cases = {
    // GStreamer's timeline back at 0 three times in 8 s, a little played between (CI, 2026-12-07).
    'a playhead that keeps starting again at 0 while the playlist grows is reloaded, and plays after': {
      seconds: 14,
      script: (s, load) => (load === 0 ? (s % 2.5) * 0.1 : s),
      expect: ['reconnecting', 'reconnected'],
    },
    'a playhead that stands while the playlist grows is reloaded, and plays after': {
      seconds: 14,
      script: (s, load) => (load === 0 ? Math.min(s, 2) : s),
      expect: ['reconnecting', 'reconnected'],
    },
    'a timeline that starts again once and plays on is left alone': {
      seconds: 10,
      script: (s) => (s < 2 ? s : s - 2),
      expect: [],
    },
    'a playhead that stands while the playlist does not grow (a publisher away) waits': {
      seconds: 10,
      grows: false,
      script: (s) => Math.min(s, 2),
      expect: [],
    },
  };
  await Promise.all(
    Object.entries(cases).map(([name, { expect, ...how }]) =>
      t.test(name, async (t) => {
        const events = await watch(t, how);
        assert.deepEqual(events.map((e) => e.name), expect, JSON.stringify(events));
        if (expect.length) assert.equal(events[0].detail.reason, 'stalled');
      }),
    ),
  );
});
