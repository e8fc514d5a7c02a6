// The player against a publisher that changes under it, on the real gateway: back with
// another codec, with sound only then both again, a picture that starts after the sound
// (the mangler's audio-then-video), one that flaps between the two, and pictures that
// stop for seconds while the sound goes on (video-hole-5s), in each engine.
// (`player.test.mjs` has the transports, the recovery from the gateway's restart and
// the other codecs; split from it so that the browser tests' three lanes end together.)
// Needs `cargo xtask wasm` and a gateway built after it (`cargo xtask test` does both).

import assert from 'node:assert/strict';

import { ENGINES, expectIn, launchEngine, mangleBin, openPage, publish, sleep, start, startGateway, startSite, test, until, waitLive } from './harness.mjs';

const playing = (s) => s.currentTime > 0.5 && !s.paused && s.frames > 10;

for (const engine of ENGINES) {
  // A publisher back with another audio codec (MP3 for AAC): `changeType` where the
  // SourceBuffer has it; where it has not (WebKitGTK), a new MediaSource, as for a track
  // that starts late; where the codec is not supported, a new one without the track, so
  // that the picture plays on. The player once left the track's SourceBuffer without
  // media, and the page stalled for good. MP3 goes to MSE as each engine names it:
  // `mp4a.6B` in MP4, `mp3` in MP4 (Firefox, which refused the first: picture alone,
  // until 2026-12-04), or an MPEG audio stream (Chromium).
  test(`[${engine}] a publisher back with another codec (AAC, then MP3) plays on`, { timeout: 90_000 }, async (t) => {
    const gateway = await startGateway(t);
    const aac = publish(t, gateway, 'cam');
    const browser = await launchEngine(t, engine);
    const page = await openPage(browser, await startSite(t, gateway), { url: `ws://127.0.0.1:${gateway.http}/live/cam.flv` });
    const first = await until(page, 'playback did not start', playing);
    assert.ok(first.stats.codecs.includes('mp4a.40.2'), JSON.stringify(first.stats.codecs));
    const mp3 = await page.evaluate(() =>
      ['audio/mp4; codecs="mp4a.6B"', 'audio/mp4; codecs="mp3"', 'audio/mpeg'].some((type) => MediaSource.isTypeSupported(type)),
    );
    await aac.stop();
    const gap = await page.evaluate(() => window.sample());
    publish(t, gateway, 'cam', { audio: 'mp3' });
    const back = (s) => s.currentTime > gap.currentTime + 3 && s.frames > gap.frames + 75;
    await until(page, 'the picture did not play on after the publisher came back with MP3', back, 20_000);
    const a = await page.evaluate(() => window.sample());
    await sleep(4000);
    const b = await page.evaluate(() => window.sample());
    t.diagnostic(`MP3 ${mp3 ? '' : 'not '}supported; ${b.stats.codecs.join(', ')}; ${b.stats.rebuilds} MediaSources rebuilt; ` +
      `currentTime ${a.currentTime.toFixed(2)} → ${b.currentTime.toFixed(2)}, frames ${a.frames} → ${b.frames}; errors ${JSON.stringify(b.errors)}`);
    assert.ok(b.currentTime - a.currentTime > 3.2, `currentTime ${a.currentTime} → ${b.currentTime}`);
    assert.ok(b.frames - a.frames > 60, `frames ${a.frames} → ${b.frames}`);
    if (!mp3) {
      // Said once, and the picture alone plays on.
      assert.equal(b.errors.length, 1, JSON.stringify(b.errors));
      assert.match(b.errors[0], /mp4a\.6B is not supported/);
      assert.deepEqual(b.stats.codecs.filter((c) => c.startsWith('mp4a')), []);
      return;
    }
    assert.deepEqual(b.errors, []);
    assert.ok(b.stats.codecs.some((c) => c.startsWith('mp4a.6')), JSON.stringify(b.stats.codecs));
    await expectIn(t, engine, 'sound', () => {
      assert.ok(b.tone.contrast > 30 && Math.abs(b.tone.loudestHz - 1000) < 30, `1 kHz tone: ${JSON.stringify(b.tone)}`);
    });
  });

  // A publisher back with sound only, then with both again: its video's SourceBuffer,
  // left without media, held the element where the pictures ended, and the page stalled
  // for good; and the gateway kept the last session's video header, so a viewer joining
  // then waited for a keyframe that never came, with no sound either. Now a track gone
  // for 3 s has its SourceBuffer removed (Chromium: the sound plays on in the same
  // MediaSource) or is a new MediaSource without it (Firefox, WebKitGTK); the video coming
  // back is a new one with it; and the gateway drops what the new session does not send
  // again.
  test(`[${engine}] a publisher back with sound only, then with pictures again, plays on${engine !== 'webkit' ? ', and so does a viewer who joins meanwhile' : ''}`, { timeout: 120_000 }, async (t) => {
    const gateway = await startGateway(t);
    let ffmpeg = publish(t, gateway, 'cam');
    const browser = await launchEngine(t, engine);
    const site = await startSite(t, gateway);
    const query = { url: `ws://127.0.0.1:${gateway.http}/live/cam.flv` };
    const page = await openPage(browser, site, query);
    await until(page, 'playback did not start', playing);
    const advances = async (p, what) => {
      await sleep(1000);
      const a = await p.evaluate(() => window.sample());
      await sleep(3000);
      const b = await p.evaluate(() => window.sample());
      t.diagnostic(`${what}: ${b.stats.codecs.join(', ')}; ${b.stats.rebuilds} rebuilt; currentTime +${(b.currentTime - a.currentTime).toFixed(2)} s, frames +${b.frames - a.frames}`);
      assert.ok(b.currentTime - a.currentTime > 2.4, `${what}: currentTime ${a.currentTime} → ${b.currentTime}`);
      assert.deepEqual(b.errors, []);
      return { a, b };
    };
    await ffmpeg.stop();
    ffmpeg = publish(t, gateway, 'cam', { video: null });
    // The element stalls where the pictures end, and 3 s of sound later goes on without them.
    await until(page, 'the sound alone did not play on', (s) => s.stats.codecs.length === 1, 20_000);
    const alone = await advances(page, 'sound only');
    assert.deepEqual(alone.b.stats.codecs, ['mp4a.40.2']);
    if (engine === 'chromium') assert.equal(alone.b.stats.rebuilds, 0, 'the video\'s SourceBuffer removed, no new MediaSource');
    // A second page (WebKitWebDriver has one; Firefox, which played no sound in a tab not
    // shown without a sound device, does with one).
    if (engine !== 'webkit') {
      const joiner = await openPage(browser, site, query);
      await until(joiner, 'a viewer joining the sound only did not start', (s) => s.currentTime > 0.5 && !s.paused, 20_000);
      await advances(joiner, 'joined the sound only');
      await joiner.close();
    }
    await ffmpeg.stop();
    publish(t, gateway, 'cam');
    await until(page, 'the pictures did not come back', (s) => s.stats.codecs.length === 2, 20_000);
    const both = await advances(page, 'both again');
    assert.ok(both.b.frames - both.a.frames > 50, `frames ${both.a.frames} → ${both.b.frames}`);
  });

  test(`[${engine}] picture that starts after the sound: a new MediaSource with both tracks, the position never back`, { timeout: 60_000 }, async (t) => {
    const gateway = await startGateway(t);
    const browser = await launchEngine(t, engine);
    const url = `ws://127.0.0.1:${gateway.http}/live/late.flv`;
    // Not live yet: the player is made (and fails to find the channel), so that it
    // can load the channel the moment it is live, within its 3 s of sound alone.
    const page = await openPage(browser, await startSite(t, gateway), { url });
    const mangle = start(t, mangleBin, ['audio-then-video', `rtmp://127.0.0.1:${gateway.rtmp}/live/late`], 'mangle');
    await waitLive(gateway, 'late').catch((e) => {
      throw new Error(`${e.message}\n${mangle.log()}`);
    });
    await page.evaluate((url) => window.player.load(url), url);
    await expectIn(t, engine, 'sound alone', async () => {
      const seen = [];
      let s;
      const deadline = Date.now() + 20_000;
      do {
        await sleep(250);
        s = await page.evaluate(() => window.sample());
        if (s.currentTime > 0) seen.push(s.currentTime);
      } while (!(s.stats.rebuilds >= 1 && s.width > 0 && s.frames > 50) && Date.now() < deadline);
      assert.ok(s.stats.rebuilds === 1 && s.width > 0 && s.frames > 50, `both tracks did not play: ${JSON.stringify(s)}`);
      assert.ok(s.stats.codecs.some((c) => c.startsWith('avc1.')) && s.stats.codecs.includes('mp4a.40.2'), JSON.stringify(s.stats));
      const back = seen.findIndex((x, i) => i > 0 && x < seen[i - 1] - 0.05);
      assert.equal(back, -1, `the position went back: ${seen.map((x) => x.toFixed(2)).join(' ')}`);
      await sleep(2000);
      const later = await page.evaluate(() => window.sample());
      assert.ok(later.currentTime > s.currentTime + 1.5 && !later.paused, `${s.currentTime} → ${later.currentTime}`);
      assert.ok(later.variance > 100, `picture variance ${later.variance}`);
      // The one error: the channel not found, before it was published.
      const errors = await page.evaluate(() => window.events.filter((e) => e.name === 'error').map((e) => e.detail.details));
      assert.deepEqual(errors, ['not-found']);
      // Chromium and Firefox log the refused connection of before the channel was
      // published (Chromium with its 404, Firefox "can't establish a connection").
      assert.deepEqual((await page.errorLogs()).filter((l) => !l.includes('404') && !l.includes(url)), [], 'console errors');
    });
  });
}

// A publisher that flaps between sound only and both, each change a new MediaSource
// (in Firefox: Chromium removes the gone video's SourceBuffer instead, so only the
// pictures' returns take one): past the rebuilds allowed at once, the next waits its
// turn (one every 20 s). It was refused instead, and the pictures that came back were
// left out for good: sound alone played on while the publisher sent both.
test('[firefox] a publisher that flaps between sound only and both gets its pictures back', { timeout: 120_000 }, async (t) => {
  const gateway = await startGateway(t);
  let ffmpeg = publish(t, gateway, 'cam');
  const browser = await launchEngine(t, 'firefox');
  const page = await openPage(browser, await startSite(t, gateway), { url: `ws://127.0.0.1:${gateway.http}/live/cam.flv` });
  await until(page, 'playback did not start', playing);
  const tracks = async (video, rebuilds, what, within = 20_000) => {
    await ffmpeg.stop();
    ffmpeg = publish(t, gateway, 'cam', video ? {} : { video: null });
    const want = (s) => s.stats.codecs.length === (video ? 2 : 1) && s.stats.rebuilds >= rebuilds && s.currentTime > 0.5;
    const at = Date.now();
    const s = await until(page, what, want, within);
    t.diagnostic(`${what}: after ${((Date.now() - at) / 1000).toFixed(1)} s, ${s.stats.rebuilds} MediaSources rebuilt`);
    return s;
  };
  await tracks(false, 1, 'sound only');
  await tracks(true, 2, 'both again');
  await tracks(false, 3, 'sound only again');
  // The fourth within seconds: it waits for the budget (up to 20 s), then comes.
  const back = await tracks(true, 4, 'both once more', 40_000);
  await sleep(3000);
  const s = await page.evaluate(() => window.sample());
  assert.ok(s.frames - back.frames > 50, `frames ${back.frames} → ${s.frames}`);
  assert.ok(s.currentTime - back.currentTime > 2.4, `currentTime ${back.currentTime} → ${s.currentTime}`);
  assert.deepEqual(s.errors, []);
});

// Pictures that stop for 5 s while the sound goes on (the mangler's video-hole-5s: a
// camera whose H.264 encoder stalls). Past 3 s without pictures the video counted as
// gone: its SourceBuffer was removed (Chromium) or the element stalled, and their
// return took a new MediaSource. Now the remuxer goes on with pictures that repeat the
// last one, P pictures whose macroblocks are all skipped (`core/src/codec/avc_skip.rs`,
// `core/src/fmp4/hold.rs`): the element plays on with the picture held, in the same
// MediaSource, in every engine.
for (const engine of ['chromium', 'firefox', 'webkit']) test(`[${engine}] pictures that stop for 5 s while the sound goes on: the last is repeated, the element plays on in its MediaSource`, { timeout: 90_000 }, async (t) => {
  const gateway = await startGateway(t);
  const mangle = start(t, mangleBin, ['video-hole-5s', `rtmp://127.0.0.1:${gateway.rtmp}/live/hole`], 'mangle');
  await waitLive(gateway, 'hole').catch((e) => {
    throw new Error(`${e.message}\n${mangle.log()}`);
  });
  const browser = await launchEngine(t, engine);
  const page = await openPage(browser, await startSite(t, gateway), { url: `ws://127.0.0.1:${gateway.http}/live/hole.flv` });
  const first = await until(page, 'playback did not start', playing);
  // Two holes at least (5 s every 12 s), each second sampled.
  const samples = [first];
  for (let i = 0; i < 26; i++) {
    await sleep(1000);
    let sample = await page.evaluate(() => window.sample());
    // A loaded WebKitGTK now and then draws an empty canvas from a playing <video> (one
    // read in 27, once in three full runs): read again 0.1 s on. A picture that is really
    // missing (a hole lasts 5 s) is missing then too.
    for (let again = 0; again < 2 && sample.variance <= 100; again++) {
      await sleep(100);
      sample = await page.evaluate(() => window.sample());
    }
    samples.push(sample);
  }
  const last = samples.at(-1);
  // currentTime's pace between samples, on the page's own clock.
  const steps = samples.slice(1).map((s, i) => (s.currentTime - samples[i].currentTime) / ((s.at - samples[i].at) / 1000));
  // The time the element lost, a slow second's shortfall less what the next one makes up:
  // WebKitGTK reports currentTime late now and then (0.29 then 1.73, 0.00 then 1.86: a dip
  // and its surplus), which is not the element stopping. At most a second in all, where the
  // element stopping at a hole lost seconds at each.
  const lost = steps.reduce((sum, d, i) => (d < 0.8 ? sum + Math.max(0, 1 - d - Math.max(0, (steps[i + 1] ?? 1) - 1)) : sum), 0);
  t.diagnostic(`currentTime's pace each second ${steps.map((d) => d.toFixed(2)).join(' ')} (${lost.toFixed(2)} s lost); ${last.stats.picturesHeld} held, ${last.stats.rebuilds} rebuilt, latency ${last.stats.latency.toFixed(2)} s`);
  assert.ok(lost <= 1, `the element stopped, ${lost.toFixed(2)} s lost: ${steps.map((d) => d.toFixed(2))}`);
  assert.ok(last.stats.picturesHeld >= 2, JSON.stringify(last.stats));
  assert.equal(last.stats.rebuilds, 0, 'no new MediaSource');
  assert.deepEqual(last.stats.codecs.length, 2, JSON.stringify(last.stats));
  // A picture all along, and the pictures back after each hole.
  assert.ok(Math.min(...samples.map((s) => s.variance)) > 100, `picture variance ${samples.map((s) => s.variance | 0)}`);
  assert.ok(last.frames - first.frames > 250, `frames ${first.frames} → ${last.frames}`);
  assert.ok(samples.at(-1).frames > samples.at(-4).frames || samples.at(-4).frames > samples.at(-7).frames, 'the pictures came back');
  assert.deepEqual(last.errors, []);
});
