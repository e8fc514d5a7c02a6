// HLS out of the gateway, in browsers: hls.js (pinned in package.json) in
// low-latency mode plays a channel in Chromium; and the npm player's native HLS
// fallback, where neither MediaSource nor ManagedMediaSource exists, in WebKitGTK
// (whose <video> plays HLS through GStreamer).
// Needs a gateway build (`cargo build -p flashless-gateway`); the fallback test also
// needs `cargo xtask wasm` before that build.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';

import { launchBrowser, launchEngine, mangleBin, openPage, poll, publish, root, sleep, start, startGateway, startSite, until, waitLive } from './harness.mjs';

const HLS_JS = path.join(root, 'e2e/node_modules/hls.js/dist');
// Long enough to cross many segments: a player that loses its place at a
// segment's end (as hls.js did when a part's sound ended short of its picture)
// stalls within it.
const WINDOW_S = 45;

// A 30 s window, so the gateway offers delta updates (`CAN-SKIP-UNTIL`, past six target
// durations), which hls.js asks for (`_HLS_skip=YES`) and merges.
test('hls.js in low-latency mode plays a channel near the live edge', { timeout: 120_000 }, async (t) => {
  const gateway = await startGateway(t, { extra: ['--hls-window', '30'] });
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
  t.diagnostic(`hls.js latency to the playlist's live edge: ${latencies.map((x) => x.toFixed(2)).join(' ')} s (target ${last.targetLatency}); ${last.skips} delta updates asked`);
  assert.ok(last.lowLatency, 'low-latency mode');
  assert.ok(last.partTarget > 0 && last.partTarget <= 0.5, `PART-TARGET ${last.partTarget}`);
  assert.ok(last.currentTime - first.currentTime > WINDOW_S * 0.8, `currentTime ${first.currentTime} → ${last.currentTime}`);
  assert.ok(last.frames - first.frames > WINDOW_S * 25 * 0.8, `frames ${first.frames} → ${last.frames}`);
  assert.ok(Math.max(...latencies) < 2.5, `latency ${latencies}`);
  assert.ok(last.skips > 20, `${last.skips} reloads asked for a delta update`);
  assert.deepEqual(last.errors, []);
});

// Two cameras of the corpus at once. One whose pictures stop for 5 s every 12 s while its
// sound goes on (`video-hole-5s`): the gateway fills each hole with pictures that repeat
// the last one, so the parts go on at their length (before, each hole was one part as long
// as itself, the playlist stood still through it, and PART-TARGET grew to 5 s for good).
// One whose sound starts 2 s after its pictures (`audio-late-2s`), asked for the moment
// it is live: the first init waits for the sound (before, the sound was a new init after a
// discontinuity, and hls.js failed at once: a fatal `bufferAppendError`).
test('hls.js plays on through pictures that stop for 5 s, and a channel whose sound starts 2 s late', { timeout: 120_000 }, async (t) => {
  const gateway = await startGateway(t);
  const browser = await launchBrowser(t);
  const site = await startSite(t, gateway, { appDir: HLS_JS });
  const watchCase = async (name) => {
    const mangle = start(t, mangleBin, [name, `rtmp://127.0.0.1:${gateway.rtmp}/live/${name}`], `mangle ${name}`);
    await waitLive(gateway, name).catch((e) => {
      throw new Error(`${e.message}\n${mangle.log()}`);
    });
    const page = await openPage(browser, site, { url: `${site.origin}/live/${name}/index.m3u8` }, { pagePath: '/e2e/hls.html' });
    await until(page, `hls.js did not start playing ${name}`, (s) => s.currentTime > 0.5 && !s.paused && s.frames > 10, 30_000);
    const samples = [await page.evaluate(() => window.sample())];
    for (let i = 0; i < 30; i++) {
      await sleep(1000);
      samples.push(await page.evaluate(() => window.sample()));
    }
    return samples;
  };
  const [holes, late] = await Promise.all(['video-hole-5s', 'audio-late-2s'].map(watchCase));
  for (const [name, samples] of [['video-hole-5s', holes], ['audio-late-2s', late]]) {
    const steps = samples.slice(1).map((s, i) => [s.currentTime - samples[i].currentTime, s.frames - samples[i].frames]);
    const played = steps.filter(([dt]) => dt >= 0.8).length;
    const still = steps.filter(([, frames]) => frames === 0).length;
    const last = samples.at(-1);
    const latencies = samples.slice(3).map((s) => s.latency);
    t.diagnostic(`${name} per second: ${steps.map(([dt, f]) => `${dt.toFixed(2)}/${f}`).join(' ')}; latency ${latencies.map((x) => x.toFixed(2)).join(' ')}; PART-TARGET ${last.partTarget}`);
    assert.ok(played >= 27, `${name}: played ${played} of 30 s`);
    assert.ok(still <= 1, `${name}: ${still} s without a new picture`);
    assert.ok(Math.max(...latencies) < 3, `${name}: latency ${latencies}`);
    assert.deepEqual(last.errors, [], name);
  }
  // Three holes in 30 s, yet the parts as configured (the sound's late start makes the
  // first part as long as the wait: PART-TARGET covers it).
  assert.ok(holes.at(-1).partTarget > 0 && holes.at(-1).partTarget <= 0.5, `PART-TARGET ${holes.at(-1).partTarget}`);
});

// A channel whose sound is MP3: Chromium's MediaSource takes MP3 in no MP4, so its
// HLS goes as MPEG-TS, which hls.js plays there (the sound into an `audio/mpeg`
// SourceBuffer). As fMP4, hls.js failed at once (`bufferAddCodecError`).
test('hls.js plays a channel whose sound is MP3', { timeout: 90_000 }, async (t) => {
  const gateway = await startGateway(t);
  publish(t, gateway, 'cam', { audio: 'mp3' });
  const browser = await launchBrowser(t);
  const site = await startSite(t, gateway, { appDir: HLS_JS });
  const page = await openPage(browser, site, { url: `${site.origin}/live/cam/index.m3u8` }, { pagePath: '/e2e/hls.html' });
  const first = await until(page, 'hls.js did not start playing', (s) => s.currentTime > 0.5 && !s.paused && s.frames > 10, 30_000);
  await sleep(20_000);
  const last = await page.evaluate(() => window.sample());
  const sound = await page.evaluate(() => Object.values(window.hls.bufferController?.tracks ?? {}).map((x) => x.container));
  t.diagnostic(`currentTime ${first.currentTime.toFixed(2)} → ${last.currentTime.toFixed(2)}, frames ${first.frames} → ${last.frames}, SourceBuffers ${sound}`);
  assert.ok(sound.includes('audio/mpeg'), `the sound's SourceBuffer: ${sound}`);
  assert.ok(last.currentTime - first.currentTime > 20 * 0.8, `currentTime ${first.currentTime} → ${last.currentTime}`);
  assert.ok(last.frames - first.frames > 20 * 25 * 0.8, `frames ${first.frames} → ${last.frames}`);
  assert.deepEqual(last.errors, []);
});

// A publisher that restarts (an encoder's reconnect): the playlist goes on after a
// discontinuity, with the new session's init, and hls.js plays on across it. (A
// publisher back with other tracks makes a valid playlist too, but hls.js 1.7 cannot
// follow a change of its tracks: "Unsupported transition between audiovideo and audio
// SourceBuffers", even with a new MediaSource; the gateway's test checks that playlist.)
test('hls.js plays on across a publisher restart', { timeout: 90_000 }, async (t) => {
  const gateway = await startGateway(t);
  const ffmpeg = publish(t, gateway, 'cam');
  const browser = await launchBrowser(t);
  const site = await startSite(t, gateway, { appDir: HLS_JS });
  const page = await openPage(browser, site, { url: `${site.origin}/live/cam/index.m3u8` }, { pagePath: '/e2e/hls.html' });
  await until(page, 'hls.js did not start playing', (s) => s.currentTime > 0.5 && !s.paused && s.frames > 10, 30_000);
  await sleep(2000);
  await ffmpeg.stop();
  const gone = await page.evaluate(() => window.sample());
  // The gateway has seen it go, so that `waitLive` below waits for the new session.
  const channels = () => fetch(`${gateway.origin}/api/channels`).then((r) => r.json());
  await poll('the channel still live after its publisher left', channels, (list) => !list.some((c) => c.name === 'cam' && c.state === 'live'), { ms: 5000 });
  publish(t, gateway, 'cam');
  // From the moment the gateway has the new session: how long ffmpeg takes to start
  // publishing again is the machine's, not the player's (on a loaded machine seconds).
  await waitLive(gateway, 'cam');
  const live = await page.evaluate(() => window.sample());
  const a = await until(page, 'hls.js did not play on within 6 s of the new session', (s) => s.currentTime > live.currentTime + 0.5, 6_000);
  await sleep(6000);
  const b = await page.evaluate(() => window.sample());
  t.diagnostic(`across the restart: currentTime ${gone.currentTime.toFixed(2)} (publisher gone) → ${live.currentTime.toFixed(2)} (back) → ${a.currentTime.toFixed(2)} → ${b.currentTime.toFixed(2)} 6 s later, frames ${a.frames} → ${b.frames}`);
  assert.ok(b.currentTime - a.currentTime > 5, `currentTime ${a.currentTime} → ${b.currentTime}`);
  assert.ok(b.frames - a.frames > 6 * 25 * 0.8, `frames ${a.frames} → ${b.frames}`);
  assert.deepEqual(b.errors, []);
});

// WebKitGTK plays HLS through GStreamer's hlsdemux, off unless asked for (the
// variable below, read by the engine, which inherits it through its driver).
test('[webkit] without MediaSource, the npm player falls back to the channel\'s HLS in the <video>', { timeout: 90_000 }, async (t) => {
  process.env.WEBKIT_GST_ENABLE_HLS_SUPPORT = '1';
  const gateway = await startGateway(t);
  publish(t, gateway, 'cam');
  const browser = await launchEngine(t, 'webkit');
  const site = await startSite(t, gateway);
  // Through the site, so the picture is same-origin and the test may read its pixels.
  const page = await openPage(browser, site, { url: `${site.origin}/live/cam.flv`, mse: 'none' });
  const first = await until(page, 'native HLS did not start playing', (s) => s.currentTime > 0.5 && !s.paused, 30_000);
  // The time played over 8 s, summed from samples: GStreamer's hlsdemux has been seen to
  // restart the element's timeline at 0 once in a while (said below when it does), which
  // a viewer sees as a blink, not a stop; a stall still fails the check.
  let played = 0;
  let restarts = 0;
  let at = first.currentTime;
  let s = first;
  for (let i = 0; i < 16; i++) {
    await sleep(500);
    s = await page.evaluate(() => window.sample());
    if (s.currentTime >= at) played += s.currentTime - at;
    else restarts++;
    at = s.currentTime;
  }
  if (restarts) t.diagnostic(`the element's timeline restarted ${restarts} time(s)`);
  const native = await page.evaluate(() => ({
    src: document.querySelector('video').src,
    mediaSource: typeof window.MediaSource,
    stats: window.player.stats(),
  }));
  t.diagnostic(`native HLS: ${JSON.stringify(native)}`);
  assert.equal(native.mediaSource, 'undefined');
  assert.equal(native.src, `${site.origin}/live/cam/index.m3u8`);
  assert.equal(native.stats.native, 'hls');
  assert.ok(played > 5, `played ${played.toFixed(2)} s in 8 s (currentTime ${first.currentTime} → ${s.currentTime}, ${restarts} restarts)`);
  assert.ok(s.variance > 100, `picture variance ${s.variance}`);
  assert.deepEqual(s.errors, []);
});

// A publisher that leaves and comes back. While the channel has no new media the
// element waits (its playlist does not grow, so the player does not reload it); once
// the new session's media comes, it plays on. WebKitGTK's GStreamer, whose clock ran on
// meanwhile, took every frame after for late: about a picture a second and the rest
// dropped, until the player loaded its source again.
test('[webkit] native HLS waits out a publisher that left, and plays on once it is back', { timeout: 150_000 }, async (t) => {
  process.env.WEBKIT_GST_ENABLE_HLS_SUPPORT = '1';
  const gateway = await startGateway(t);
  const ffmpeg = publish(t, gateway, 'cam');
  const browser = await launchEngine(t, 'webkit');
  const site = await startSite(t, gateway);
  const page = await openPage(browser, site, { url: `${site.origin}/live/cam.flv`, mse: 'none' });
  const playing = await until(page, 'native HLS did not start playing', (s) => s.currentTime > 2 && !s.paused, 30_000);
  await ffmpeg.stop();
  await sleep(12_000);
  const away = await page.evaluate(() => window.sample());
  assert.equal(away.stats.reconnects, playing.stats.reconnects, 'reloaded while the channel had no new media');
  publish(t, gateway, 'cam');
  await waitLive(gateway, 'cam');
  // Within 30 s of the new session, 8 s in a row of pictures at about the stream's rate.
  const samples = [];
  let found = null;
  for (let i = 0; i < 30 && !found; i++) {
    await sleep(1000);
    const s = await page.evaluate(() => window.sample());
    samples.push(s);
    const before = samples.at(-9);
    if (before && s.currentTime - before.currentTime > 6 && s.decoded - before.decoded > 8 * 25 * 0.7) found = s;
  }
  const trace = samples.map((s) => `${s.currentTime.toFixed(1)}/${s.decoded}/${s.dropped}`).join(' ');
  t.diagnostic(`after the new session (currentTime/decoded/dropped): ${trace}; reloads ${samples.at(-1).stats.reconnects}`);
  assert.ok(found, `no 8 s of pictures within 30 s of the new session: ${trace}`);
  assert.deepEqual(found.errors, []);
});

// What the gateway refuses ends the fallback with the wasm player's error, learnt from
// the playlist's status, not a decoder's failure. Through the lean build, which imports
// `nativehls.js` from beside it as the full build does.
test('[webkit] native HLS of a channel the gateway does not have ends in a not-found error', { timeout: 60_000 }, async (t) => {
  process.env.WEBKIT_GST_ENABLE_HLS_SUPPORT = '1';
  const gateway = await startGateway(t);
  const browser = await launchEngine(t, 'webkit');
  const site = await startSite(t, gateway);
  const query = { url: `${site.origin}/live/nobody.flv`, mse: 'none', pkg: '/pkg/flashless.lite.js' };
  const page = await openPage(browser, site, query);
  await until(page, 'no error', (s) => s.errors.length > 0, 20_000);
  const errors = await page.evaluate(() => window.events.filter((e) => e.name === 'error').map((e) => e.detail));
  assert.equal(errors.length, 1, JSON.stringify(errors));
  assert.equal(errors[0].details, 'not-found');
  assert.equal(errors[0].type, 'network');
  assert.equal(errors[0].httpStatus, 404);
  assert.equal(errors[0].fatal, true);
});
