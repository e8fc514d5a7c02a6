// The lean build `flashless/lite` (H.264, AAC, MP3, AMF0): it plays what it keeps,
// picture and sound near the live edge, and refuses by name what it leaves out
// (here VP9 and Opus, which the full build plays).
// Needs `cargo xtask wasm` and a gateway built after it (`cargo xtask test` does both).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { launchBrowser, launchEngine, openPage, publish, root, sleep, startGateway, startSite, until } from './harness.mjs';

const LITE = '/pkg/flashless.lite.js';
const playing = (s) => s.currentTime > 0.5 && !s.paused && s.frames > 10;

for (const audio of ['aac', 'mp3']) {
  test(`flashless/lite plays H.264 + ${audio} over WS-FLV, picture and sound near the live edge`, { timeout: 60_000 }, async (t) => {
    const gateway = await startGateway(t);
    publish(t, gateway, 'cam', { audio });
    const browser = await launchEngine(t, 'chromium');
    const site = await startSite(t, gateway);
    const page = await openPage(browser, site, { url: `ws://127.0.0.1:${gateway.http}/live/cam.flv`, pkg: LITE });
    const first = await until(page, 'playback did not start', playing);
    await sleep(6000);
    const s = await page.evaluate(() => window.sample());
    assert.ok(s.currentTime - first.currentTime > 4.5, `currentTime ${first.currentTime} → ${s.currentTime}`);
    assert.ok(s.frames - first.frames > 100, `frames ${first.frames} → ${s.frames}`);
    assert.ok(s.variance > 100, `picture variance ${s.variance}`);
    assert.ok(s.stats.codecs.some((c) => c.startsWith('avc1.')), JSON.stringify(s.stats.codecs));
    assert.ok(s.stats.codecs.includes(audio === 'aac' ? 'mp4a.40.2' : 'mp4a.6B'), JSON.stringify(s.stats.codecs));
    assert.ok(s.tone.contrast > 30 && Math.abs(s.tone.loudestHz - 1000) < 30, `1 kHz tone: ${JSON.stringify(s.tone)}`);
    assert.ok(s.stats.latency < 1.5, JSON.stringify(s.stats));
    assert.deepEqual(s.errors, []);
    assert.deepEqual(await page.errorLogs(), [], 'console errors');
  });
}

test('flashless/lite names the codecs it leaves out (VP9, Opus) as unsupported, where the full build plays them', { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'flashless-lite-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  execFileSync(
    process.env.CARGO || 'cargo',
    ['run', '-q', '-p', 'flashless-core', '--example', 'ertmp_clip', '--', 'vp9', 'opus', '8', path.join(dir, 'vp9_opus.flv')],
    { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const gateway = await startGateway(t);
  const browser = await launchBrowser(t);
  const site = await startSite(t, gateway, { clipsDir: dir });
  const url = `${site.origin}/clips/vp9_opus.flv`;

  // The full build: both tracks.
  const full = await openPage(browser, site, { url });
  await until(full, 'the full build did not play the clip', (s) => s.currentTime > 0.5 && s.stats.codecs.length === 2, 20_000);
  await full.close();

  // The lean build: both codecs named as unsupported, nothing played, no crash.
  const lite = await openPage(browser, site, { url, pkg: LITE });
  const s = await until(lite, 'the lean build did not report both tracks', (s) => s.errors.length >= 2, 20_000);
  assert.equal(s.errors.length, 2, JSON.stringify(s.errors));
  assert.match(s.errors.join('\n'), /video codec VP9 is not supported/);
  assert.match(s.errors.join('\n'), /audio codec Opus is not supported/);
  assert.deepEqual(s.stats.codecs, [], JSON.stringify(s.stats));
});
