// `renderer: 'webcodecs'`: a channel published by ffmpeg (H.264 + AAC) decoded by
// WebCodecs, drawn to the canvas put in the <video>'s place, its sound scheduled on
// an AudioContext. Over 20 s: the canvas keeps changing, the decoded frames and the
// audio clock advance at the stream's rates, the player stays near the live edge,
// and nothing fails. An engine without VideoDecoder and AudioDecoder is skipped,
// visibly, naming what it lacks.
// Needs `cargo xtask wasm` and a gateway built after it (`cargo xtask test` does both).

import assert from 'node:assert/strict';

import { ENGINES, expectIn, launchEngine, openPage, publish, sleep, startGateway, startSite, test, until, waitLive } from './harness.mjs';

const PAGE = { pagePath: '/e2e/webcodecs.html' };
const SECONDS = 20;

/** The sound queued ahead, every 10 ms for `ms` in the page: its least, mean and most (s). */
function soundQueued(page, ms) {
  return page.evaluate(async (ms) => {
    const seen = [];
    for (const end = performance.now() + ms; performance.now() < end; ) {
      seen.push(window.player.stats().audioAhead);
      await new Promise((r) => setTimeout(r, 10));
    }
    const round = (v) => Math.round(v * 1000) / 1000;
    return { least: round(Math.min(...seen)), mean: round(seen.reduce((a, b) => a + b) / seen.length), most: round(Math.max(...seen)) };
  }, ms);
}

/**
 * A gateway, ffmpeg publishing `cam` to it (`publish`'s options) and the test page playing
 * it over WS-FLV (`url`) in `engine`, with `query` added (the page's hooks).
 */
async function watchCam(t, { engine = 'chromium', publish: options, query = {} } = {}) {
  const gateway = await startGateway(t);
  const ffmpeg = publish(t, gateway, 'cam', options);
  const browser = await launchEngine(t, engine);
  const url = `ws://127.0.0.1:${gateway.http}/live/cam.flv`;
  const page = await openPage(browser, await startSite(t, gateway), { url, ...query }, PAGE);
  return { gateway, ffmpeg, page, url };
}

/** Samples the page now and `ms` later: both samples, the seconds between, and the sound played meanwhile (s). */
async function span(page, ms) {
  const a = await page.evaluate(() => window.sample());
  await sleep(ms);
  const b = await page.evaluate(() => window.sample());
  return { a, b, seconds: (b.at - a.at) / 1000, played: (b.stats.audioFrames - a.stats.audioFrames) / 44_100 };
}

for (const engine of ENGINES) {
  test(`[${engine}] renderer: 'webcodecs' plays H.264 + AAC over WS-FLV for ${SECONDS} s on the audio clock`, { timeout: 90_000 }, async (t) => {
    const gateway = await startGateway(t);
    publish(t, gateway, 'cam');
    const browser = await launchEngine(t, engine);
    const site = await startSite(t, gateway);
    let page;
    let missing;
    let first;
    let last;
    let elapsed;
    const latencies = [];
    const aheads = [];
    await expectIn(t, engine, 'webcodecs', async () => {
      try {
        page = await openPage(browser, site, { url: `ws://127.0.0.1:${gateway.http}/live/cam.flv` }, PAGE);
      } catch (e) {
        // Player.create throws `no-webcodecs` where VideoDecoder or AudioDecoder is missing.
        if (engine === 'chromium' || !/needs WebCodecs/.test(e.message)) throw e;
        missing = `${engine} has no VideoDecoder/AudioDecoder (WebCodecs)`;
        return;
      }
      // The clock running too: on the wall clock (no sound yet) it starts again at the
      // newest picture when a burst piles up, NaN until that is drawn.
      first = await until(
        page,
        'no picture was drawn',
        (s) => s.picture.width > 0 && s.stats.decodedFrames > 10 && Number.isFinite(s.stats.currentTime),
      );
      assert.equal(first.picture.videoHidden, true, 'the canvas takes the <video>\'s place');

      const digests = new Set();
      last = first;
      for (let i = 0; i < SECONDS; i++) {
        await sleep(1000);
        last = await page.evaluate(() => window.sample());
        digests.add(last.picture.digest);
        latencies.push(last.stats.latency);
        aheads.push(last.stats.audioAhead);
        assert.ok(last.stats.latency < 1, `latency ${last.stats.latency} s at ${i + 1} s: ${JSON.stringify(last.stats)}`);
      }
      elapsed = (last.at - first.at) / 1000;
      const s = last.stats;
      const decoded = s.decodedFrames - first.stats.decodedFrames;
      t.diagnostic(
        `${engine}: ${decoded} frames decoded, ${s.droppedFrames} dropped, audio ${s.audioTime.toFixed(1)} s, ` +
          `latency ${s.latency.toFixed(3)} s, ${digests.size} distinct pictures in ${SECONDS}`,
      );
      assert.ok(digests.size >= SECONDS * 0.8, `the canvas changed only ${digests.size} times in ${SECONDS} samples`);
      assert.ok(last.picture.variance > 100, `picture variance ${last.picture.variance}`);
      // testsrc at 25 fps: nearly every frame decoded.
      assert.ok(decoded > elapsed * 25 * 0.9, `${decoded} frames decoded in ${elapsed.toFixed(1)} s`);
      assert.ok(s.droppedFrames < elapsed * 25 * 0.1, `${s.droppedFrames} frames dropped`);
      assert.ok(s.drawnFrames - first.stats.drawnFrames > elapsed * 25 * 0.8, `${s.drawnFrames} frames drawn`);
      assert.ok(s.codecs.some((c) => c.startsWith('avc1.')) && s.codecs.includes('mp4a.40.2'), JSON.stringify(s.codecs));
      assert.ok(s.currentTime - first.stats.currentTime > elapsed * 0.9, `media clock ${first.stats.currentTime} → ${s.currentTime}`);
      assert.deepEqual(last.errors, []);
      assert.deepEqual(await page.errorLogs(), [], 'console errors');
    });
    if (missing) {
      t.skip(missing);
      return;
    }
    // The run did not go through (the expected failure above): nothing to hear.
    if (elapsed === undefined) return;
    // The sound, on a sound device (each engine has one: Firefox's is `startSoundServer`'s).
    await expectIn(t, engine, 'sound', async () => {
      assert.ok(!last.events.includes('autoplayblocked'), 'the AudioContext did not run');
      // 44.1 kHz sound scheduled as fast as it arrives, and the audio clock running with it.
      const s = last.stats;
      const audio = s.audioFrames - first.stats.audioFrames;
      assert.ok(audio > elapsed * 44_100 * 0.9, `${audio} audio frames scheduled in ${elapsed.toFixed(1)} s`);
      assert.ok(s.audioTime - first.stats.audioTime > elapsed * 0.9, `audio clock ${first.stats.audioTime} → ${s.audioTime}`);
      // The <video>'s volume and mute, as a page's controls set them, set the sound's.
      const volume = await page.evaluate(async () => {
        const video = document.getElementById('video');
        const seen = [window.player.stats().volume];
        video.volume = 0.5;
        await new Promise((r) => setTimeout(r, 50));
        seen.push(window.player.stats().volume);
        video.muted = true;
        await new Promise((r) => setTimeout(r, 50));
        seen.push(window.player.stats().volume);
        video.muted = false;
        video.volume = 1;
        await new Promise((r) => setTimeout(r, 50));
        seen.push(window.player.stats().volume);
        return seen;
      });
      assert.deepEqual(volume, [1, 0.5, 0, 1], 'the sound follows the <video>\'s volume and mute');
      // On the audio clock the pictures lag the newest media by at most the sound's bound
      // (0.1 s behind the newest sound, queue included) and the picture's lead over the sound.
      const median = latencies.slice().sort((a, b) => a - b)[latencies.length >> 1];
      assert.ok(median < 0.2, `median latency ${median.toFixed(3)} s on the audio clock: ${latencies.map((l) => l.toFixed(3))}`);
      // Late data seldom lets the sound run out (each time, its margin grows).
      t.diagnostic(`${engine}: sound queued ${Math.min(...aheads).toFixed(3)}–${Math.max(...aheads).toFixed(3)} s, ${s.audioUnderruns} underruns`);
      assert.ok(s.audioUnderruns <= 3, `${s.audioUnderruns} underruns in ${elapsed.toFixed(1)} s`);
    });
  });
}

for (const engine of ENGINES) {
  // WebKitGTK has both decoders, but its web process crashes in `AudioData.copyTo`.
  const expected = engine === 'webkit' ? 'mse' : 'webcodecs';
  test(`[${engine}] renderer: 'auto' plays through ${expected}`, { timeout: 60_000 }, async (t) => {
    const gateway = await startGateway(t);
    publish(t, gateway, 'cam');
    const browser = await launchEngine(t, engine);
    const site = await startSite(t, gateway);
    const page = await openPage(browser, site, { url: `ws://127.0.0.1:${gateway.http}/live/cam.flv`, renderer: 'auto' }, PAGE);
    const first = await until(page, 'no media came', (s) => s.stats && s.stats.bytes > 0);
    await sleep(3000);
    const last = await page.evaluate(() => window.sample());
    assert.equal(last.stats.renderer ?? 'mse', expected, JSON.stringify(last.stats));
    assert.ok(last.stats.bytes > first.stats.bytes, `${first.stats.bytes} → ${last.stats.bytes} bytes`);
    if (expected === 'webcodecs') {
      assert.ok(last.stats.drawnFrames > 25, `${last.stats.drawnFrames} frames drawn`);
      assert.ok(last.picture.videoHidden, 'the canvas takes the <video>\'s place');
    } else {
      assert.equal(last.picture.width, 0, 'no canvas in the <video>\'s place');
    }
    assert.deepEqual(last.errors, []);
  });
}

for (const engine of ['chromium', 'firefox']) {
  test(`[${engine}] renderer: 'webcodecs' follows the <video>'s pause and play: held, then on from the live edge`, { timeout: 60_000 }, async (t) => {
    const { page } = await watchCam(t, { engine });
    await until(page, 'no picture was drawn', (s) => s.stats.drawnFrames > 25);
    // As a page's buttons do: the <video> is hidden, but its controls still act on it.
    // `play()` is not awaited: with no media in the <video>, its promise never settles.
    const play = () => page.evaluate(() => void document.getElementById('video').play().catch(() => {}));
    await play();
    const blocked = (sample) => sample.events.filter((e) => e === 'autoplayblocked').length;
    const before = await page.evaluate(() => window.sample());
    await page.evaluate(() => document.getElementById('video').pause());
    await sleep(500);
    const paused = await page.evaluate(() => window.sample());
    await sleep(2000);
    const still = await page.evaluate(() => window.sample());
    assert.equal(still.stats.drawnFrames, paused.stats.drawnFrames, 'pictures drawn while paused');
    assert.equal(still.picture.digest, paused.picture.digest, 'the picture changed while paused');
    await play();
    const resumed = await until(page, 'drawing did not resume after play', (s) => s.stats.drawnFrames > still.stats.drawnFrames + 25, 10_000);
    await sleep(1000);
    const last = await page.evaluate(() => window.sample());
    // From the live edge, not from where it was paused 2.5 s before.
    assert.ok(last.stats.latency < 0.5, `latency ${last.stats.latency} s after play`);
    assert.notEqual(last.picture.digest, still.picture.digest, 'the picture moves again');
    assert.equal(blocked(last), blocked(before), 'a pause is not a blocked autoplay');
    assert.deepEqual(last.errors, []);
    t.diagnostic(`${engine}: ${resumed.stats.drawnFrames - still.stats.drawnFrames} frames drawn after play, latency ${last.stats.latency.toFixed(3)} s`);
  });
}

test("[chromium] renderer: 'webcodecs' reconnects across a gateway restart and draws on in the same page", { timeout: 90_000 }, async (t) => {
  let gateway = await startGateway(t);
  let ffmpeg = publish(t, gateway, 'cam');
  const browser = await launchEngine(t, 'chromium');
  const page = await openPage(browser, await startSite(t, gateway), { url: `ws://127.0.0.1:${gateway.http}/live/cam.flv` }, PAGE);
  await until(page, 'no picture was drawn', (s) => s.stats.drawnFrames > 25);
  await ffmpeg.stop();
  await gateway.stop();
  await until(page, 'no reconnecting event', (s) => s.events.includes('reconnecting'), 10_000);
  const down = await page.evaluate(() => window.sample());
  gateway = await startGateway(t, { http: gateway.http, rtmp: gateway.rtmp });
  ffmpeg = publish(t, gateway, 'cam');
  const back = await until(
    page,
    'drawing did not resume after the gateway came back',
    (s) => s.events.includes('reconnected') && s.stats.drawnFrames > 75 && s.stats.decodedFrames > down.stats.decodedFrames + 75,
    30_000,
  );
  assert.ok(back.stats.reconnects >= 1, JSON.stringify(back.stats));
  await sleep(3000);
  const after = await page.evaluate(() => window.sample());
  assert.ok(after.stats.latency < 1, JSON.stringify(after.stats));
  assert.ok(after.stats.audioTime > back.stats.audioTime + 2, `audio clock ${back.stats.audioTime} → ${after.stats.audioTime}`);
  assert.ok(after.picture.variance > 100, `picture variance ${after.picture.variance}`);
  assert.notEqual(after.picture.digest, back.picture.digest, 'the picture moves');
  assert.deepEqual(after.errors, []);
});

test("[chromium] renderer: 'webcodecs' keeps pictures at most 45 ms ahead of the sound heard, however slow the audio device", { timeout: 120_000 }, async (t) => {
  const gateway = await startGateway(t);
  publish(t, gateway, 'cam');
  const browser = await launchEngine(t, 'chromium');
  const site = await startSite(t, gateway);
  const url = `ws://127.0.0.1:${gateway.http}/live/cam.flv`;
  // The median of the player's latency (newest media − the media time on screen) and of the
  // device latency it reports, sampled each 0.5 s for 6 s once it draws.
  const play = async (query) => {
    const page = await openPage(browser, site, { url, ...query }, PAGE);
    const first = await until(page, 'no picture was drawn', (s) => s.stats.drawnFrames > 25);
    await sleep(1500); // the wait for the device is set from its first report, each second
    const start = await page.evaluate(() => window.sample());
    const latency = [];
    const device = [];
    for (let i = 0; i < 12; i++) {
      await sleep(500);
      const s = (await page.evaluate(() => window.sample())).stats;
      latency.push(s.latency);
      device.push(s.audioLatency);
    }
    const last = await page.evaluate(() => window.sample());
    await page.close();
    const median = (v) => v.sort((a, b) => a - b)[v.length >> 1];
    return { latency: median(latency), device: median(device), first, start, last };
  };
  // What the pictures wait for the device: all of its latency past 45 ms.
  const wait = (device) => Math.max(0, device - 0.045);
  const plain = await play({});
  assert.ok(plain.device >= 0 && plain.device < 0.2, `device latency reported ${plain.device}`);
  // 0.25 s: Bluetooth; 0.5 s at 25 fps needs 12 pictures held, more than the decoder's pool:
  // the wait is spent on coded frames instead.
  for (const slow of [0.25, 0.5]) {
    const r = await play({ deviceLatency: slow });
    t.diagnostic(`device ${r.device.toFixed(3)} s: latency ${r.latency.toFixed(3)} s, against ${plain.latency.toFixed(3)} s with ${plain.device.toFixed(3)} s`);
    assert.ok(Math.abs(r.device - slow) < 0.02, `device latency reported ${r.device}`);
    const held = r.latency - plain.latency;
    const expected = wait(r.device) - wait(plain.device);
    assert.ok(Math.abs(held - expected) < 0.06, `pictures held ${held.toFixed(3)} s more, expected ${expected.toFixed(3)} s`);
    // Held, not frozen: nearly every frame drawn, few dropped.
    const { start, last } = r;
    const elapsed = (last.at - start.at) / 1000;
    const drawn = last.stats.drawnFrames - start.stats.drawnFrames;
    assert.ok(drawn > elapsed * 25 * 0.8, `${drawn} frames drawn in ${elapsed.toFixed(1)} s`);
    assert.ok(last.stats.droppedFrames - start.stats.droppedFrames < elapsed * 25 * 0.1, `${last.stats.droppedFrames} frames dropped`);
    assert.deepEqual(last.errors, []);
  }
});

test("[chromium] renderer: 'webcodecs' goes on after a stall at the latency it had: the late sound skipped, none of it left queued", { timeout: 90_000 }, async (t) => {
  const { ffmpeg, page } = await watchCam(t);
  await until(page, 'no picture was drawn', (s) => s.stats.drawnFrames > 50 && s.stats.audioFrames > 0);
  const queued = (ms) => soundQueued(page, ms);
  const sample = async () => (await page.evaluate(() => window.sample())).stats;
  await sleep(3000);
  // 4 s or more after the sound last ran out: sound that runs out again within 4 s starts
  // afresh (REPEAT_S in pkg/webcodecs.js), which this test is not about.
  let before;
  let steady;
  for (let tries = 0; ; tries++) {
    const from = (await sample()).audioUnderruns;
    before = await queued(4000);
    steady = await sample();
    if (steady.audioUnderruns === from || tries === 3) break;
  }
  // The publisher stops for 0.6 s; `-re` then sends what it owes at once: a burst.
  ffmpeg.child.kill('SIGSTOP');
  await sleep(600);
  ffmpeg.child.kill('SIGCONT');
  await sleep(200);
  const burst = await queued(1000);
  const last = await page.evaluate(() => window.sample());
  const { stats } = last;
  const skipped = stats.audioSkipped - steady.audioSkipped;
  const margin = 0.02 + 0.01 * stats.audioUnderruns;
  t.diagnostic(`sound queued: before ${JSON.stringify(before)}, after the burst ${JSON.stringify(burst)}; ${skipped} skipped, ` +
    `${stats.audioUnderruns} underruns; the AudioContext's time − the pictures' clock ${(steady.audioTime - steady.currentTime).toFixed(3)} → ${(stats.audioTime - stats.currentTime).toFixed(3)} s`);
  // The sound the stall made late (0.6 s of it, some 26 frames) was skipped, not played late ...
  assert.ok(skipped >= 15, `${skipped} frames of sound skipped`);
  // ... so the sound goes on from where it was on its clock: what is queued after the burst is
  // what was queued before it (the margin, 20 ms, 10 ms more per underrun, and the bunches it
  // comes in), not the burst's tail on top of it.
  assert.ok(burst.least < margin + 0.02, `${burst.least.toFixed(3)} s queued at least after the burst, margin ${margin.toFixed(3)} s`);
  assert.ok(burst.mean < before.mean + 0.03, `${burst.mean.toFixed(3)} s queued on average after the burst, ${before.mean.toFixed(3)} s before`);
  // And the pictures, which follow the sound, are as far behind the live edge as before.
  const later = stats.audioTime - stats.currentTime - (steady.audioTime - steady.currentTime);
  assert.ok(later < 0.01 * stats.audioUnderruns + 0.02, `the pictures' clock went ${later.toFixed(3)} s later`);
  await until(page, 'the pictures did not go on', (s) => s.stats.drawnFrames > stats.drawnFrames + 50, 10_000);
  assert.deepEqual(last.errors, []);
});

test("[chromium] renderer: 'webcodecs' plays the sound of an AudioDecoder that hands it over 300 ms late, rather than skip it all as old", { timeout: 90_000 }, async (t) => {
  const { page } = await watchCam(t, { query: { audioDelayMs: 300 } });
  await until(page, 'no picture was drawn', (s) => s.stats.drawnFrames > 50);
  // Sound 300 ms older than the newest received is old by the player's bound (the margin and
  // 80 ms): skipped at first, for half a second, then played, the bound grown by the lag.
  await sleep(3000);
  const { a: first, b: last, seconds, played } = await span(page, 10_000);
  const [a, b] = [first.stats, last.stats];
  const skipped = b.audioSkipped - a.audioSkipped;
  t.diagnostic(`${played.toFixed(2)} s of sound in ${seconds.toFixed(2)} s, ${skipped} frames skipped (${b.audioSkipped} in all), ` +
    `${b.audioUnderruns} underruns, latency ${b.latency.toFixed(3)} s, sound queued ${b.audioAhead.toFixed(3)} s`);
  assert.ok(played > seconds * 0.95, `${played.toFixed(2)} s of sound played in ${seconds.toFixed(2)} s`);
  assert.ok(skipped < 5, `${skipped} frames of sound skipped in ${seconds.toFixed(2)} s`);
  // The pictures follow the sound, so they wait for the decoder's lag too, and no longer.
  assert.ok(b.latency > 0.25 && b.latency < 0.6, `latency ${b.latency.toFixed(3)} s`);
  assert.ok(b.drawnFrames - a.drawnFrames > seconds * 25 * 0.9, `${b.drawnFrames - a.drawnFrames} pictures drawn in ${seconds.toFixed(2)} s`);
  assert.deepEqual(last.errors, []);
});

test("[chromium] renderer: 'webcodecs' takes back what it allowed a slow AudioDecoder once it keeps up", { timeout: 120_000 }, async (t) => {
  const { page } = await watchCam(t, { query: { audioDelayMs: 300 } });
  // The decoder holds its sound 300 ms: allowed, as in the test above ...
  const slow = (await until(page, 'no lag allowed the decoder', (s) => s.stats.decoderLag > 0.2 && s.stats.drawnFrames > 50)).stats;
  // ... then keeps up. After the allowance's next window (20 s) it is down to what the sound
  // needed meanwhile, after the one after that, gone: a stall's late sound is skipped again,
  // rather than kept, as latency, for as long as the page plays.
  await page.evaluate(() => {
    window.audioDelayMs = 0;
  });
  const from = Date.now();
  const fast = (await until(page, 'the allowance stayed', (s) => s.stats.decoderLag === 0, 60_000)).stats;
  t.diagnostic(`allowed ${slow.decoderLag.toFixed(3)} s with the decoder 300 ms late (latency ${slow.latency.toFixed(3)} s); ` +
    `none ${((Date.now() - from) / 1000).toFixed(1)} s after it kept up (latency ${fast.latency.toFixed(3)} s)`);
  assert.ok(Date.now() - from > 19_000, 'the allowance went before a window had passed');
  assert.ok(fast.latency < slow.latency - 0.15, `latency ${slow.latency.toFixed(3)} s, then ${fast.latency.toFixed(3)} s`);
  // Sound comes on time and is played, not skipped as old.
  await sleep(5000);
  const last = await page.evaluate(() => window.sample());
  const skipped = last.stats.audioSkipped - fast.audioSkipped;
  assert.ok(skipped < 5, `${skipped} frames of sound skipped in 5 s`);
  assert.ok(last.stats.decoderLag === 0, `${last.stats.decoderLag} s allowed again`);
  assert.deepEqual(last.errors, []);
});

// A keyframe every 3 s, joined some 2 s after one: the start's burst holds 2 s of old sound,
// which the decoder hands over at twice the rate it plays, as a busy core decodes it; or at
// the rate it plays, as a starved one does (the sound that arrives meanwhile waits behind
// it, then comes at once), as a corpus page met it (2026-12-07: the lag, steady, was taken
// for a slow decoder's and allowed, 2.2 s, the pictures that late with it for 20 s).
for (const [how, query] of [['slowly', { audioRate: 2 }], ['at the pace it plays', { audioRate: 1, audioRateMs: 200 }]]) {
  test(`[chromium] renderer: 'webcodecs' joins at the live edge where its AudioDecoder works off the start's old sound ${how}, as on a starved core`, { timeout: 90_000 }, async (t) => {
    const gateway = await startGateway(t);
    publish(t, gateway, 'cam', { gop: 75 });
    await waitLive(gateway, 'cam');
    // Live from its first keyframe: the page is opened 2 s past one, whatever the browser's
    // start took (a slow one joined past the next keyframe, with no old sound to skip).
    const live = Date.now();
    const browser = await launchEngine(t, 'chromium');
    await sleep((2000 - ((Date.now() - live) % 3000) + 3000) % 3000);
    const url = `ws://127.0.0.1:${gateway.http}/live/cam.flv`;
    const page = await openPage(browser, await startSite(t, gateway), { url, ...query }, PAGE);
    const first = (await until(page, 'no picture was drawn', (s) => s.stats.drawnFrames > 0)).stats;
    // A burst caught up with, skipped as old to its end (its lag shrinking as it comes, or
    // had when it came), not a decoder that holds its sound, whose lag the player would then
    // allow (and keep for 20 s, the pictures that late with it).
    await sleep(8000);
    const { b, seconds, played } = await span(page, 4000);
    t.diagnostic(`${first.audioSkipped} → ${b.stats.audioSkipped} frames of sound skipped; then ${played.toFixed(2)} s played in ${seconds.toFixed(2)} s, ` +
      `latency ${b.stats.latency.toFixed(3)} s, allowed the decoder ${b.stats.decoderLag.toFixed(3)} s`);
    assert.ok(b.stats.audioSkipped > 40, `${b.stats.audioSkipped} frames of sound skipped: no old sound at the start`);
    assert.ok(b.stats.decoderLag < 0.1, `${b.stats.decoderLag.toFixed(3)} s allowed the decoder`);
    assert.ok(b.stats.latency < 0.3, `latency ${b.stats.latency.toFixed(3)} s`);
    assert.ok(played > seconds * 0.95, `${played.toFixed(2)} s of sound played in ${seconds.toFixed(2)} s`);
    assert.deepEqual(b.errors, []);
  });
}

// Pictures wait for their sound as coded frames, up to a bound in seconds: a decoder that
// holds its sound 2 s at 60 fps (120 frames) once left them decoded early, to be dropped
// unseen, and the picture froze; one that holds it 5 s, beyond the bound, draws them ahead
// of the sound rather than not at all.
for (const [fps, delayMs, synced] of [[60, 2000, true], [25, 5000, false]]) {
  test(`[chromium] renderer: 'webcodecs' draws on at ${fps} fps with its sound ${delayMs / 1000} s late${synced ? ', in sync' : ', ahead of the sound'}`, { timeout: 90_000 }, async (t) => {
    const { page } = await watchCam(t, { publish: { fps, gop: fps }, query: { audioDelayMs: delayMs } });
    await until(page, 'no sound played', (s) => s.stats.audioFrames > 44_100, 20_000);
    await sleep(2000);
    const { a, b, seconds } = await span(page, 5000);
    const drawn = b.stats.drawnFrames - a.stats.drawnFrames;
    t.diagnostic(`${drawn} pictures drawn in ${seconds.toFixed(2)} s; latency ${b.stats.latency.toFixed(3)} s, allowed the decoder ${b.stats.decoderLag.toFixed(3)} s`);
    assert.ok(drawn > seconds * fps * 0.5, `${drawn} pictures drawn in ${seconds.toFixed(2)} s at ${fps} fps`);
    // The pictures follow the sound where they can wait for it, and no longer.
    if (synced) assert.ok(b.stats.latency > delayMs / 1000 - 0.2 && b.stats.latency < delayMs / 1000 + 0.5, `latency ${b.stats.latency.toFixed(3)} s`);
    assert.deepEqual(b.errors, []);
  });
}

// A publisher back with sound only: the sound plays on, and once no picture has come for
// 3 s the renderer says so by the sound (`playing`), as the MSE player's new MediaSource
// without the video does. It once said `waiting`, and counted a stall, for as long as the
// sound played.
test("[chromium] renderer: 'webcodecs' with a publisher back with sound only plays the sound on and says playing", { timeout: 90_000 }, async (t) => {
  const { gateway, ffmpeg: both, page } = await watchCam(t);
  await until(page, 'no picture was drawn', (s) => s.stats.drawnFrames > 30 && s.stats.audioFrames > 0, 20_000);
  await both.stop();
  publish(t, gateway, 'cam', { video: null });
  await sleep(6000);
  const { a, b, seconds, played } = await span(page, 4000);
  const stuck = b.stats.stuckMs - a.stats.stuckMs;
  const states = b.events.filter((e) => e.startsWith('video:'));
  t.diagnostic(`${played.toFixed(2)} s of sound in ${seconds.toFixed(2)} s; stuck ${stuck} ms meanwhile; ${states.join(' → ')}`);
  assert.ok(played > seconds * 0.9, `${played.toFixed(2)} s of sound played in ${seconds.toFixed(2)} s`);
  assert.ok(stuck < 500, `counted stuck ${stuck} ms while the sound played`);
  assert.equal(states.at(-1), 'video:playing', states.join(' → '));
  assert.deepEqual(b.errors, []);
});

test("[chromium] renderer: 'webcodecs' raises its sound's margin for late data, and lowers it after 20 s without", { timeout: 240_000 }, async (t) => {
  const { page } = await watchCam(t);
  await until(page, 'no picture was drawn', (s) => s.stats.drawnFrames > 50 && s.stats.audioFrames > 0);
  const start = (await page.evaluate(() => window.sample())).stats;
  // The page's main thread held at a time for longer than the sound queued (its margin, 20 ms,
  // and up to 60 ms more as sound comes in bunches), so that it runs out, and less than that
  // plus MAX_AUDIO_LAG_S (80 ms), so that the next comes late rather than after a hole: 70 ms
  // and 100 ms in turn cover every such queue, until the sound has run out.
  let raised;
  const held = [];
  do {
    const ms = held.length % 2 ? 100 : 70;
    await page.evaluate((ms) => {
      for (const end = performance.now() + ms; performance.now() < end; );
    }, ms);
    held.push(ms);
    await sleep(700);
    raised = (await page.evaluate(() => window.sample())).stats;
  } while (raised.audioUnderruns === start.audioUnderruns && held.length < 12);
  const underruns = raised.audioUnderruns - start.audioUnderruns;
  assert.ok(underruns > 0, `the main thread held ${held.join(', ')} ms, and the sound never ran out`);
  assert.ok(raised.targetLatency > 0.025, `margin ${raised.targetLatency} after ${underruns} underruns`);
  // Calm: after 20 s without an underrun, a step (10 ms) comes off. The 20 s count from the
  // last underrun: on a starved core (a full run on two cores) the sound may run out again,
  // and the margin rightly stays up (or goes higher) until it has been calm that long.
  const calm = Date.now();
  let quiet = { since: calm, underruns: raised.audioUnderruns, highest: raised.targetLatency };
  const settled = (await until(page, 'neither lowered nor calm', (s) => {
    if (s.stats.audioUnderruns !== quiet.underruns) quiet = { ...quiet, since: Date.now(), underruns: s.stats.audioUnderruns };
    quiet.highest = Math.max(quiet.highest, s.stats.targetLatency);
    return s.stats.targetLatency < quiet.highest - 0.005 || Date.now() - quiet.since > 30_000;
  }, 150_000)).stats;
  const calmFor = (Date.now() - quiet.since) / 1000;
  t.diagnostic(`margin ${start.targetLatency} → ${raised.targetLatency} (${underruns} underruns, held ${held.join(', ')} ms) → highest ${quiet.highest} → ${settled.targetLatency} ` +
    `${((Date.now() - calm) / 1000).toFixed(1)} s later, ${calmFor.toFixed(1)} s after the last underrun; ${settled.audioUnderruns - raised.audioUnderruns} underruns meanwhile`);
  assert.ok(settled.targetLatency < quiet.highest - 0.005, `the margin stayed at ${settled.targetLatency} ${calmFor.toFixed(1)} s after the last underrun`);
  assert.ok(calmFor > 14, `the margin came down ${calmFor.toFixed(1)} s after the last underrun, before 20 s of calm`);
  // ... and the sound it leaves queued is played off.
  await sleep(4000);
  const { least } = await soundQueued(page, 2000);
  const margin = (await page.evaluate(() => window.sample())).stats.targetLatency;
  assert.ok(least < margin + 0.02, `still ${least.toFixed(3)} s queued at least, margin ${margin} s`);
  assert.deepEqual((await page.evaluate(() => window.sample())).errors, []);
});

test("[chromium] renderer: 'webcodecs' has the MSE player's stats, and through a stall counts it and says waiting, then playing", { timeout: 90_000 }, async (t) => {
  const { ffmpeg, page, url } = await watchCam(t);
  await until(page, 'no picture was drawn', (s) => s.stats.drawnFrames > 50);
  // The stats an MSE player of the same stream has, beside the WebCodecs one.
  const mseKeys = await page.evaluate(async (url) => {
    const { Player } = await import('/pkg/flashless.js');
    const video = document.createElement('video');
    video.muted = true;
    const mse = await Player.create(video, { url, renderer: 'mse' });
    await new Promise((r) => setTimeout(r, 1500));
    const keys = Object.keys(mse.stats());
    mse.destroy();
    return keys;
  }, url);
  await sleep(1000);
  const steady = await page.evaluate(() => window.sample());
  const missing = mseKeys.filter((k) => !(k in steady.stats));
  assert.deepEqual(missing, [], `WebCodecs lacks stats ${missing}`);
  for (const k of mseKeys.filter((k) => k !== 'codecs')) assert.equal(typeof steady.stats[k], 'number', `${k}: ${steady.stats[k]}`);
  assert.ok(steady.stats.fps > 15 && steady.stats.fps < 40, `fps ${steady.stats.fps}`);
  assert.ok(steady.stats.bitrate > 50_000, `bitrate ${steady.stats.bitrate}`);
  assert.ok(steady.stats.buffered >= 0 && steady.stats.buffered < 1, `buffered ${steady.stats.buffered}`);

  // The publisher stops for 2 s: the pictures stop.
  ffmpeg.child.kill('SIGSTOP');
  await sleep(2000);
  ffmpeg.child.kill('SIGCONT');
  await until(page, 'no picture after the stall', (s) => s.stats.drawnFrames > steady.stats.drawnFrames + 50, 10_000);
  const after = await page.evaluate(() => window.sample());
  const stalls = after.stats.stalls - steady.stats.stalls;
  const stuck = after.stats.stuckMs - steady.stats.stuckMs;
  const media = await page.evaluate((since) => window.events.filter((e) => e.name.startsWith('video:') && e.at > since).map((e) => e.name), steady.at);
  t.diagnostic(`through a 2 s stop: ${stalls} stall(s), ${stuck} ms stuck, <video> events ${media}; before it ${steady.stats.stalls} stalls, ${steady.stats.stuckMs} ms`);
  assert.ok(stalls >= 1 && stalls <= 2, `${stalls} stalls counted`);
  assert.ok(stuck > 1200 && stuck < 3500, `${stuck} ms stuck in a 2 s stop`);
  assert.deepEqual(media.slice(0, 2), ['video:waiting', 'video:playing'], `the <video> said ${media}`);
  assert.equal(media.at(-1), 'video:playing');
  assert.deepEqual(after.errors, []);
});

for (const audio of ['aac', null]) {
  test(`[chromium] renderer: 'webcodecs' joins a channel with a keyframe every 10 s (${audio ? 'with' : 'without'} sound) and draws on from its first picture, at the live edge`, { timeout: 90_000 }, async (t) => {
    const gateway = await startGateway(t);
    publish(t, gateway, 'cam', { gop: 250, audio });
    // Seconds of the GOP cached: the start burst is all of them, decoded as fast as it goes.
    await sleep(6000);
    const browser = await launchEngine(t, 'chromium');
    const page = await openPage(browser, await startSite(t, gateway), { url: `ws://127.0.0.1:${gateway.http}/live/cam.flv` }, PAGE);
    const first = await until(page, 'no picture was drawn', (s) => s.stats.drawnFrames > 0);
    // Sampled every 250 ms over 6 s (before the next keyframe): no picture stays up 500 ms.
    const samples = [];
    while (samples.length < 24) {
      await sleep(250);
      samples.push(await page.evaluate(() => window.sample()));
    }
    const digests = [first, ...samples].map((s) => s.picture.digest);
    let [run, longest] = [1, 1];
    for (let i = 1; i < digests.length; i++) {
      run = digests[i] === digests[i - 1] ? run + 1 : 1;
      longest = Math.max(longest, run);
    }
    const last = samples.at(-1);
    t.diagnostic(`joined ${first.stats.decodedFrames} frames in; 6 s later ${last.stats.drawnFrames} drawn, ${last.stats.droppedFrames} dropped, latency ${last.stats.latency.toFixed(3)} s`);
    assert.ok(longest <= 2, `one picture for ${longest} samples of 250 ms: ${digests}`);
    assert.ok(last.stats.drawnFrames - first.stats.drawnFrames > 100, `${last.stats.drawnFrames - first.stats.drawnFrames} pictures drawn in 6 s`);
    assert.ok(last.stats.latency < 0.15, `latency ${last.stats.latency}`);
    assert.deepEqual(last.errors, []);
  });
}

test("[chromium] renderer: 'webcodecs' without sound keeps its clock where the browser sends 2 animation frames a second", { timeout: 60_000 }, async (t) => {
  const { page } = await watchCam(t, { publish: { audio: null }, query: { rafMs: 500 } });
  await until(page, 'no picture was drawn', (s) => s.stats.drawnFrames > 2);
  await sleep(2000);
  const before = await page.evaluate(() => window.sample());
  await sleep(8000);
  const after = await page.evaluate(() => window.sample());
  const [played, drawn] = [after.stats.currentTime - before.stats.currentTime, after.stats.drawnFrames - before.stats.drawnFrames];
  t.diagnostic(`in 8 s: ${played.toFixed(2)} s played, ${drawn} pictures drawn, ${after.stats.jumps - before.stats.jumps} jumps, latency ${after.stats.latency.toFixed(3)} s`);
  // The pictures wait for the next animation frame, past their time: the clock is right, it does not start again.
  assert.equal(after.stats.jumps, before.stats.jumps, 'the clock started again');
  assert.ok(played > 7.5 && played < 8.5, `${played} s played in 8 s`);
  assert.ok(drawn >= 12 && drawn <= 18, `${drawn} pictures drawn at 2 animation frames a second`);
  assert.ok(after.stats.latency < 0.5, `latency ${after.stats.latency}`);
  assert.deepEqual(after.errors, []);
});

test("[chromium] renderer: 'webcodecs' plays HTTP-FLV (fetch) as well", { timeout: 60_000 }, async (t) => {
  const gateway = await startGateway(t);
  publish(t, gateway, 'cam');
  const browser = await launchEngine(t, 'chromium');
  const page = await openPage(browser, await startSite(t, gateway), { url: `http://127.0.0.1:${gateway.http}/live/cam.flv` }, PAGE);
  const first = await until(page, 'no picture was drawn', (s) => s.stats.drawnFrames > 10);
  await sleep(5000);
  const s = await page.evaluate(() => window.sample());
  assert.ok(s.stats.drawnFrames - first.stats.drawnFrames > 5 * 25 * 0.8, `frames drawn ${first.stats.drawnFrames} → ${s.stats.drawnFrames}`);
  assert.ok(s.stats.audioTime - first.stats.audioTime > 4.5, `audio clock ${first.stats.audioTime} → ${s.stats.audioTime}`);
  assert.ok(s.stats.latency < 1, JSON.stringify(s.stats));
  assert.ok(s.picture.variance > 100, `picture variance ${s.picture.variance}`);
  assert.deepEqual(s.errors, []);
  assert.deepEqual(await page.errorLogs(), [], 'console errors');
});

// An MP3 channel: the AudioDecoder is configured with WebCodecs' name for MP3 (`mp3`),
// which Firefox needs (it refuses `mp4a.6B`, and drew the picture alone before
// 2026-12-04).
for (const engine of ['chromium', 'firefox']) {
  test(`[${engine}] renderer: 'webcodecs' plays an MP3 channel's sound`, { timeout: 60_000 }, async (t) => {
    const gateway = await startGateway(t);
    publish(t, gateway, 'cam', { audio: 'mp3' });
    const browser = await launchEngine(t, engine);
    const page = await openPage(browser, await startSite(t, gateway), { url: `ws://127.0.0.1:${gateway.http}/live/cam.flv` }, PAGE);
    const first = await until(page, 'no picture was drawn', (s) => s.stats.drawnFrames > 10);
    await sleep(4000);
    const s = await page.evaluate(() => window.sample());
    t.diagnostic(`${s.stats.codecs.join(', ')}; ${s.stats.audioFrames - first.stats.audioFrames} sound frames decoded in 4 s; errors ${JSON.stringify(s.errors)}`);
    // Listed once its AudioDecoder took the configuration; a refusal is an error.
    assert.ok(s.stats.codecs.includes('mp4a.6B'), JSON.stringify(s.stats.codecs));
    assert.ok(s.stats.drawnFrames - first.stats.drawnFrames > 4 * 25 * 0.8, `frames drawn ${first.stats.drawnFrames} → ${s.stats.drawnFrames}`);
    assert.deepEqual(s.errors, []);
    await expectIn(t, engine, 'sound', () => {
      // 4 s of 44.1 kHz sound played.
      assert.ok(s.stats.audioFrames - first.stats.audioFrames > 3 * 44_100, `${first.stats.audioFrames} → ${s.stats.audioFrames}`);
    });
  });
}
