// HLS out of the gateway, in browsers: hls.js (pinned in package.json) in
// low-latency mode plays a channel in Chromium; and the npm player's native HLS
// fallback, where neither MediaSource nor ManagedMediaSource exists, in WebKitGTK
// (whose <video> plays HLS through GStreamer).
// Needs a gateway build (`cargo build -p flashless-gateway`); the fallback test also
// needs `cargo xtask wasm` before that build.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';

import { launchBrowser, launchEngine, openPage, publish, root, sleep, startGateway, startSite, until } from './harness.mjs';

const HLS_JS = path.join(root, 'e2e/node_modules/hls.js/dist');
const WINDOW_S = 20;

test('hls.js in low-latency mode plays a channel near the live edge', { timeout: 90_000 }, async (t) => {
  const gateway = await startGateway(t);
  publish(t, gateway, 'cam');
  const browser = await launchBrowser(t);
  const site = await startSite(t, gateway, { appDir: HLS_JS });
  const page = await openPage(browser, site, { url: `${site.origin}/live/cam/index.m3u8` }, { pagePath: '/e2e/hls.html' });
  const first = await until(page, 'hls.js did not start playing', (s) => s.currentTime > 0.5 && !s.paused && s.frames > 10, 30_000);
  const samples = [];
  for (let i = 0; i < WINDOW_S; i++) {
    await sleep(1000);
    samples.push(await page.evaluate(() => window.sample()));
  }
  const last = samples.at(-1);
  const latencies = samples.slice(3).map((s) => s.latency);
  t.diagnostic(`hls.js latency to the playlist's live edge: ${latencies.map((x) => x.toFixed(2)).join(' ')} s (target ${last.targetLatency})`);
  assert.ok(last.lowLatency, 'low-latency mode');
  assert.ok(last.partTarget > 0 && last.partTarget <= 0.5, `PART-TARGET ${last.partTarget}`);
  assert.ok(last.currentTime - first.currentTime > WINDOW_S * 0.8, `currentTime ${first.currentTime} → ${last.currentTime}`);
  assert.ok(last.frames - first.frames > WINDOW_S * 25 * 0.8, `frames ${first.frames} → ${last.frames}`);
  assert.ok(Math.max(...latencies) < 2.5, `latency ${latencies}`);
  assert.deepEqual(last.errors, []);
});
