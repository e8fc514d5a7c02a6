// A recording played in the viewer page (`web/page/`) in Debian's Chromium: the gateway
// records a channel ffmpeg publishes (`[record]`, segments of 3 s), the page lists the
// channel's recordings, plays one by its URL (`/recordings/…`, HTTP Range), seekable and
// not live, then goes back to the live stream. No console error.
// Needs `cargo xtask wasm` and a gateway built after it (`cargo xtask test` does both).

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { launchBrowser, poll, publish, requireTools, startGateway } from './harness.mjs';

const SEGMENT_S = 3;

/** Polls `f()` until `done(value)` holds; fails naming `what`, with how the values went. */
function until(what, f, done, ms = 20_000, logs = []) {
  return poll(what, f, done, { ms, logs: async () => logs });
}

function videoState() {
  const v = document.getElementById('video');
  return {
    src: v.currentSrc,
    currentTime: v.currentTime,
    duration: v.duration,
    seekable: v.seekable.length ? [v.seekable.start(0), v.seekable.end(v.seekable.length - 1)] : null,
    paused: v.paused,
    seeking: v.seeking,
    readyState: v.readyState,
    width: v.videoWidth,
    controls: v.controls,
    boxHidden: document.getElementById('recordings').hidden,
    buttons: [...document.querySelectorAll('#recording-list button')].map((b) => b.dataset.path),
  };
}

test('the viewer page plays a recording and seeks in it', { timeout: 90_000 }, async (t) => {
  requireTools('ffmpeg');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'flashless-recording-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = path.join(dir, 'flashless.toml');
  await writeFile(
    config,
    `[record]\ndir = ${JSON.stringify(path.join(dir, 'rec'))}\nsegment = "${SEGMENT_S}s"\npart = "0.5s"\nmatch = ["cam"]\n`,
  );
  const gateway = await startGateway(t, { extra: ['--config', config] });
  publish(t, gateway, 'cam');
  // Two files done and a third begun.
  const list = await until(
    'three recordings',
    async () => (await fetch(`${gateway.origin}/api/recordings?channel=cam`)).json(),
    (l) => l.length >= 3,
    30_000,
  );
  const done = list[0];
  assert.ok(Math.abs(done.duration - SEGMENT_S) < 0.1, `a recording of ${done.duration} s`);

  const browser = await launchBrowser(t);
  const page = await browser.newPage();
  const logs = [];
  const errors = [];
  page.on('console', (m) => {
    logs.push(`${m.type()}: ${m.text()}`);
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  await page.goto(`${gateway.origin}/watch/cam`);
  const state = () => page.evaluate(videoState);
  // Live first: the page's player, a MediaSource.
  await until('the live stream', state, (s) => s.src.startsWith('blob:') && s.currentTime > 0.5, 20_000, logs);

  await until('the recordings listed', state, (s) => !s.boxHidden && s.buttons.includes(done.path), 20_000, logs);
  await page.click('#recordings summary');
  await page.click(`#recording-list button[data-path="${done.path}"]`);
  const started = await until(
    'the recording playing',
    state,
    (s) => s.src.endsWith(`/recordings/${done.path}`) && s.currentTime > 0.3 && s.width === 320,
    15_000,
    logs,
  );
  // A file, not a live stream: its length known, all of it seekable, the browser's own controls.
  assert.ok(Math.abs(started.duration - SEGMENT_S) < 0.3, `duration ${started.duration}`);
  assert.ok(started.seekable && started.seekable[0] === 0 && started.seekable[1] > SEGMENT_S - 0.3, `seekable ${started.seekable}`);
  assert.equal(started.controls, true);

  // Back near the start, then forward: both land where asked.
  for (const to of [0.2, SEGMENT_S - 1]) {
    await page.evaluate((to) => {
      const v = document.getElementById('video');
      v.currentTime = to;
      return v.play().catch(() => {});
    }, to);
    const landed = await until('the seek', state, (s) => !s.seeking && s.readyState >= 2, 10_000, logs);
    assert.ok(Math.abs(landed.currentTime - to) < 0.5, `asked ${to}, at ${landed.currentTime}`);
  }
  // It plays on to the end of the file.
  await until('the end of the recording', state, (s) => s.currentTime > SEGMENT_S - 0.3, 10_000, logs);

  // And back to live.
  await page.click('#back-live');
  await until('live again', state, (s) => s.src.startsWith('blob:') && s.currentTime > 0.5 && !s.controls, 20_000, logs);
  assert.deepEqual(errors, [], `console errors:\n${logs.join('\n')}`);
});
