// Legacy FLV audio in the browser (issue #19): ffmpeg publishes H.264 with
// G.711 A-law and µ-law (8 kHz mono, as IP cameras send), 16-bit PCM, Flash
// ADPCM, Nellymoser (Flash Player's microphone, at its 8 kHz) and Speex (its
// voice codec, 16 kHz); the player's core turns each into FLAC frames in fMP4,
// and the page plays picture and the 1 kHz tone. In Chromium and Firefox (both
// play FLAC in MSE); through WebCodecs too (Chromium). The lean build, which converts
// none of them, reports the codec by name and the video plays on (Chromium). Flash's
// video codecs no browser decodes (Sorenson Spark, Screen Video 1 and 2) are decoded in
// the wasm and drawn through WebCodecs, on the package's page and the gateway's.
// Needs `cargo xtask wasm` (`cargo xtask test` builds it).

import assert from 'node:assert/strict';

import { expectIn, launchEngine, openPage, pageLogs, poll, sleep, start, startGateway, startSite, test, until, waitLive } from './harness.mjs';

const CODECS = [
  ['pcm_alaw', ['-ar', '8000', '-ac', '1']],
  ['pcm_mulaw', ['-ar', '8000', '-ac', '1']],
  ['pcm_s16le', ['-ar', '44100', '-ac', '2']],
  ['adpcm_swf', ['-ar', '22050', '-ac', '1']],
  ['nellymoser', ['-ar', '8000', '-ac', '1']],
  // A pure tone is periodic beyond any voice: a Speex decoder that joins it
  // mid-stream (libspeex's as well) rings ever louder at its pitch predictor. A
  // little noise, as a voice has, keeps the tone.
  ['libspeex', ['-ar', '16000', '-ac', '1'], 'aevalsrc=0.3*sin(2*PI*1000*t)+0.02*(random(0)-0.5):sample_rate=44100'],
];

/** ffmpeg publishing testsrc (H.264) and a 1 kHz sine (or `tone`) as `codec`, in real time. */
function publishLegacy(t, gateway, name, codec, format, tone = 'sine=frequency=1000:sample_rate=44100') {
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re'];
  args.push('-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25');
  args.push('-f', 'lavfi', '-i', tone);
  args.push('-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '25', '-pix_fmt', 'yuv420p');
  args.push('-c:a', codec, ...format);
  args.push('-f', 'flv', `rtmp://127.0.0.1:${gateway.rtmp}/live/${name}`);
  return start(t, 'ffmpeg', args, `ffmpeg ${codec}`);
}

for (const engine of ['chromium', 'firefox']) {
  test(`[${engine}] legacy audio (G.711 A-law, µ-law, PCM, Flash ADPCM, Nellymoser, Speex) plays as FLAC with the picture`, { timeout: 180_000 }, async (t) => {
    const gateway = await startGateway(t);
    const browser = await launchEngine(t, engine);
    const site = await startSite(t, gateway);
    for (const [codec, format, tone] of CODECS) {
      await t.test(codec, async (sub) => {
        publishLegacy(sub, gateway, codec, codec, format, tone);
        await waitLive(gateway, codec);
        const page = await openPage(browser, site, { url: `ws://127.0.0.1:${gateway.http}/live/${codec}.flv` });
        const first = await until(page, `${codec}: playback did not start`, (s) => s.currentTime > 0.5 && !s.paused && s.frames > 10, 20_000);
        const samples = [];
        for (let i = 0; i < 5; i++) {
          await sleep(1000);
          samples.push(await page.evaluate(() => window.sample()));
        }
        const last = samples.at(-1);
        assert.deepEqual(last.errors, []);
        assert.ok(last.stats.codecs.some((c) => c.startsWith('avc1.')), JSON.stringify(last.stats.codecs));
        assert.ok(last.stats.codecs.includes('flac'), JSON.stringify(last.stats.codecs));
        assert.ok(last.currentTime > first.currentTime + 3.5, `currentTime ${first.currentTime} → ${last.currentTime}`);
        assert.ok(last.frames > first.frames + 60 && last.variance > 100, JSON.stringify(last));
        await expectIn(sub, engine, 'sound', () => {
          const tones = samples.map((s) => s.tone);
          assert.ok(
            tones.filter((x) => x.contrast > 30 && Math.abs(x.loudestHz - 1000) < 30).length >= tones.length * 0.8,
            `1 kHz tone: ${JSON.stringify(tones)}`,
          );
        });
        if (codec === 'adpcm_swf') {
          // Catching up (a playbackRate over 1) on sound that comes in long tags: Flash
          // ADPCM's hold 186 ms, and Firefox was seen dropping most pictures (in some runs)
          // while the FLAC frames made of them were as long. Paused 1.5 s, the page is that
          // far behind.
          const before = await page.evaluate(async () => {
            const before = window.sample();
            const video = document.getElementById('video');
            video.pause();
            await new Promise((r) => setTimeout(r, 1500));
            await video.play();
            return before;
          });
          await sleep(6000);
          const after = await page.evaluate(() => window.sample());
          const decoded = after.decoded - before.decoded;
          const dropped = after.dropped - before.dropped;
          sub.diagnostic(`catching up: rate changes ${before.stats.rateChanges} → ${after.stats.rateChanges}, ${dropped} of ${decoded} pictures dropped, latency ${after.stats.latency.toFixed(2)} s`);
          assert.ok(after.stats.rateChanges > before.stats.rateChanges, 'it caught up at another rate');
          assert.ok(dropped <= decoded * 0.1, `${dropped} of ${decoded} pictures dropped while catching up`);
        }
        await page.close();
      });
    }
  });
}

test('[chromium] the lean build reports Speex by name and the video plays on', { timeout: 120_000 }, async (t) => {
  const gateway = await startGateway(t);
  const browser = await launchEngine(t, 'chromium');
  const site = await startSite(t, gateway);
  const cases = [['libspeex', ['-ar', '16000', '-ac', '1'], /Speex/]];
  for (const [codec, format, name] of cases) {
    await t.test(codec, async (sub) => {
      publishLegacy(sub, gateway, codec, codec, format);
      await waitLive(gateway, codec);
      const page = await openPage(browser, site, { url: `ws://127.0.0.1:${gateway.http}/live/${codec}.flv`, pkg: '/pkg/flashless.lite.js' });
      const first = await until(page, `${codec}: the video did not start`, (s) => s.currentTime > 0.5 && !s.paused && s.frames > 10, 20_000);
      await sleep(3000);
      const s = await page.evaluate(() => window.sample());
      assert.ok(s.currentTime > first.currentTime + 2 && s.frames > first.frames + 40 && s.variance > 100, JSON.stringify(s));
      assert.deepEqual(s.stats.codecs.filter((c) => !c.startsWith('avc1.')), [], JSON.stringify(s.stats.codecs));
      assert.equal(s.errors.length, 1, JSON.stringify(s.errors));
      assert.match(s.errors[0], name);
      await page.close();
    });
  }
});

// The same conversion feeds WebCodecs: its AudioDecoder takes the FLAC frames, and the
// sound plays on the audio clock at the source's rate (8 kHz, and Speex's 16 kHz).
test('[chromium] with renderer: \'webcodecs\', Nellymoser, G.711 and Speex play as FLAC at their rate', { timeout: 120_000 }, async (t) => {
  const gateway = await startGateway(t);
  const browser = await launchEngine(t, 'chromium');
  const site = await startSite(t, gateway);
  for (const [codec, rate, tone] of [['nellymoser', 8000], ['pcm_alaw', 8000], ['libspeex', 16000, CODECS.at(-1)[2]]]) {
    await t.test(codec, async (sub) => {
      publishLegacy(sub, gateway, codec, codec, ['-ar', String(rate), '-ac', '1'], tone);
      await waitLive(gateway, codec);
      const url = `ws://127.0.0.1:${gateway.http}/live/${codec}.flv`;
      const page = await openPage(browser, site, { url }, { pagePath: '/e2e/webcodecs.html' });
      const first = await until(page, `${codec}: no sound decoded`, (s) => s.stats.audioFrames > rate, 20_000);
      await sleep(5000);
      const last = await page.evaluate(() => window.sample());
      assert.deepEqual(last.errors, []);
      assert.equal(last.stats.renderer, 'webcodecs');
      assert.ok(last.stats.codecs.includes('flac'), JSON.stringify(last.stats.codecs));
      const played = (last.stats.audioFrames - first.stats.audioFrames) / rate;
      const seconds = (last.at - first.at) / 1000;
      assert.ok(played > seconds * 0.8 && played < seconds * 1.2, `${played} s of sound in ${seconds} s`);
      await page.close();
    });
  }
});

/**
 * ffmpeg publishing what Flash Player's camera and microphone send: Sorenson Spark and
 * Nellymoser. With `videoAfter` (seconds) its pictures start that late; ffmpeg sends no
 * tag before its first picture, so for that long the channel is listed, connecting, with
 * no codec.
 */
function publishFlashCamera(t, gateway, name, { videoAfter = 0 } = {}) {
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re'];
  args.push('-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25');
  args.push('-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=44100');
  if (videoAfter) args.push('-vf', `trim=start=${videoAfter}`);
  args.push('-c:v', 'flv', '-g', '25', '-b:v', '500k', '-c:a', 'nellymoser', '-ar', '22050', '-ac', '1');
  args.push('-f', 'flv', `rtmp://127.0.0.1:${gateway.rtmp}/live/${name}`);
  return start(t, 'ffmpeg', args, 'ffmpeg flv + nellymoser');
}

/**
 * The package's WebCodecs page on `channel` in `engine`, watched for 8 s from its tenth
 * picture: its first and last samples, the seconds between, the pictures decoded in
 * them and how many distinct ones were seen.
 */
async function watchThroughWebCodecs(t, gateway, channel, engine) {
  const browser = await launchEngine(t, engine);
  const url = `ws://127.0.0.1:${gateway.http}/live/${channel}.flv`;
  const page = await openPage(browser, await startSite(t, gateway), { url }, { pagePath: '/e2e/webcodecs.html' });
  const first = await until(page, 'no picture was drawn', (s) => s.picture.width > 0 && s.stats.decodedFrames > 10, 20_000);
  const digests = new Set();
  let last = first;
  for (let i = 0; i < 8; i++) {
    await sleep(1000);
    last = await page.evaluate(() => window.sample());
    digests.add(last.picture.digest);
  }
  const seconds = (last.at - first.at) / 1000;
  const decoded = last.stats.decodedFrames - first.stats.decodedFrames;
  t.diagnostic(`${engine} ${channel}: ${decoded} pictures decoded in ${seconds.toFixed(1)} s, ${digests.size} distinct, picture ${JSON.stringify(last.picture)}`);
  return { first, last, seconds, decoded, distinct: digests.size };
}

/** What `watchThroughWebCodecs` saw is 320-wide testsrc at `fps`, every picture decoded, moving, with no error. */
function assertTestsrcPlays(w, fps) {
  assert.deepEqual(w.last.errors, []);
  assert.equal(w.last.picture.width, 320);
  // testsrc: bright, coloured bars and a moving counter.
  const p = w.last.picture;
  assert.ok(p.mean > 30 && p.variance > 100 && p.saturation > 100, JSON.stringify(p));
  assert.ok(w.distinct >= 6, `the picture changed ${w.distinct} times in 8 s`);
  assert.ok(w.decoded > w.seconds * fps * 0.9, `${w.decoded} pictures decoded in ${w.seconds.toFixed(1)} s`);
}

// Sorenson Spark, which no browser decodes, is decoded in the wasm and drawn through
// WebCodecs (VideoFrame), with its Nellymoser sound: a Flash camera's stream plays
// whole. (WebKitGTK's WebCodecs crash its web process on sound: see webcodecs.test.mjs.)
for (const engine of ['chromium', 'firefox']) {
  test(`[${engine}] Flash Player's camera (Sorenson Spark, Nellymoser) plays through WebCodecs, picture and sound`, { timeout: 90_000 }, async (t) => {
    const gateway = await startGateway(t);
    publishFlashCamera(t, gateway, 'flashcam');
    await waitLive(gateway, 'flashcam');
    const w = await watchThroughWebCodecs(t, gateway, 'flashcam', engine);
    assertTestsrcPlays(w, 25);
    assert.deepEqual(w.last.stats.codecs, ['flv1', 'flac']);
    const played = (w.last.stats.audioFrames - w.first.stats.audioFrames) / 22_050;
    assert.ok(played > w.seconds * 0.8, `${played.toFixed(1)} s of sound in ${w.seconds.toFixed(1)} s`);
  });
}

/**
 * The viewer page's WebCodecs canvas, seen at 64×48: its size, the spread of its
 * brightness, its strongest colour and a digest (which changes as the picture moves),
 * with the state text shown over the player.
 */
function lookAtCanvas(page) {
  return page.evaluate(() => {
    const canvas = document.querySelector('canvas[data-flashless="webcodecs"]');
    const state = document.getElementById('state');
    if (!canvas || !canvas.width) return { canvas: false, state: state.textContent };
    const copy = document.createElement('canvas');
    [copy.width, copy.height] = [64, 48];
    const g = copy.getContext('2d');
    g.drawImage(canvas, 0, 0, 64, 48);
    const px = g.getImageData(0, 0, 64, 48).data;
    let [sum, sq, saturation, digest] = [0, 0, 0, 0];
    for (let i = 0; i < px.length; i += 4) {
      const y = (px[i] * 299 + px[i + 1] * 587 + px[i + 2] * 114) / 1000;
      [sum, sq] = [sum + y, sq + y * y];
      saturation = Math.max(saturation, Math.max(px[i], px[i + 1], px[i + 2]) - Math.min(px[i], px[i + 1], px[i + 2]));
      digest = (digest * 31 + px[i]) >>> 0;
    }
    const n = px.length / 4;
    return { canvas: true, width: canvas.width, variance: sq / n - (sum / n) ** 2, saturation, digest, state: state.textContent };
  });
}

/** Two seconds after `first`, the page's canvas shows the camera's 320-wide colour bars, moved on, with no state over them. */
async function assertPlaysOn(page, first) {
  await sleep(2000);
  const later = await lookAtCanvas(page);
  assert.equal(later.width, 320);
  assert.ok(later.saturation > 100, JSON.stringify(later));
  assert.notEqual(later.digest, first.digest, 'the picture does not move');
  assert.equal(later.state, '', `a state shows over the picture: ${later.state}`);
}

// The gateway's page knows the channel's video is Sorenson Spark from its list and plays
// it through WebCodecs.
test('[chromium] the viewer page plays a Flash camera\'s channel through WebCodecs', { timeout: 90_000 }, async (t) => {
  const gateway = await startGateway(t);
  publishFlashCamera(t, gateway, 'flashcam');
  await waitLive(gateway, 'flashcam');
  const browser = await launchEngine(t, 'chromium');
  const page = await browser.newPage();
  await page.goto(`${gateway.origin}/watch/flashcam`);
  const look = () => lookAtCanvas(page);
  const first = await poll('the page drew no picture', look, (s) => s.canvas && s.variance > 100, { ms: 20_000 });
  await assertPlaysOn(page, first);
  // The statistics name the picture's size, which only the canvas knows here.
  const size = await page.evaluate(() => document.querySelector('#stats dd[data-stat="size"]')?.textContent);
  assert.equal(size, '320×240');
});

// A page that started its player before the list named the video codec (here it waits for
// the channel, then the camera's first picture comes 6 s after the publish) plays through
// MSE until the player reports Sorenson Spark, then starts again through WebCodecs.
test('[chromium] the viewer page switches a Flash camera\'s channel to WebCodecs when the player finds the codec', { timeout: 60_000 }, async (t) => {
  const gateway = await startGateway(t);
  const browser = await launchEngine(t, 'chromium');
  // The renderers the page used, in order: a MediaSource's blob: URL given to the
  // <video> (MSE), the canvas put in its place (WebCodecs).
  await browser.addInitScript(() => {
    window.renderers = [];
    new MutationObserver((records) => {
      for (const r of records) {
        if (r.target.localName === 'video' && r.target.src.startsWith('blob:')) window.renderers.push('mse');
        for (const n of r.addedNodes) if (n.dataset?.flashless === 'webcodecs') window.renderers.push('webcodecs');
      }
    }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['src'] });
  });
  const page = await browser.newPage();
  await page.goto(`${gateway.origin}/watch/flashcam`);
  const state = () => page.evaluate(() => document.getElementById('state').textContent);
  await poll('the page did not wait for the channel', state, (s) => s.includes('No channel “flashcam” yet'));

  publishFlashCamera(t, gateway, 'flashcam', { videoAfter: 6 });
  const channel = () => fetch(`${gateway.origin}/api/channels`).then((r) => r.json()).then((l) => l.find((c) => c.name === 'flashcam'));
  const listed = await poll('the channel was not listed', channel, Boolean);
  assert.equal(listed.video_codec ?? null, null, `listed with its video codec at once: ${JSON.stringify(listed)}`);

  const look = () => lookAtCanvas(page);
  const first = await poll('the page drew no picture', look, (s) => s.canvas && s.variance > 100, { ms: 30_000, logs: () => pageLogs(page) });
  const renderers = await page.evaluate(() => window.renderers);
  assert.deepEqual(renderers, ['mse', 'webcodecs'], 'the page did not start through MSE, then switch once');
  await assertPlaysOn(page, first);
  assert.equal((await channel()).video_codec, 'flv1');
});

/** ffmpeg publishing a screen share in Flash's Screen Video (`flashsv` or `flashsv2`), with AAC sound. */
function publishScreen(t, gateway, name, codec, size = '320x240') {
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re'];
  args.push('-f', 'lavfi', '-i', `testsrc=size=${size}:rate=15`);
  args.push('-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=44100');
  args.push('-c:v', codec, '-g', '30', '-c:a', 'aac', '-b:a', '64k');
  args.push('-f', 'flv', `rtmp://127.0.0.1:${gateway.rtmp}/live/${name}`);
  return start(t, 'ffmpeg', args, `ffmpeg ${codec}`);
}

// Screen Video 1 and 2 (Flash's screen sharing), which no browser decodes, are decoded in
// the wasm and drawn through WebCodecs, as Sorenson Spark is.
for (const engine of ['chromium', 'firefox']) {
  for (const codec of ['flashsv', 'flashsv2']) {
    test(`[${engine}] Flash Screen Video (${codec}) plays through WebCodecs`, { timeout: 90_000 }, async (t) => {
      const gateway = await startGateway(t);
      publishScreen(t, gateway, 'screen', codec);
      await waitLive(gateway, 'screen');
      const w = await watchThroughWebCodecs(t, gateway, 'screen', engine);
      assertTestsrcPlays(w, 15);
      assert.deepEqual(w.last.stats.codecs, [codec, 'mp4a.40.2']);
    });
  }
}

// The gateway's page knows a screen share from its list and plays it through WebCodecs.
test('[chromium] the viewer page plays a Flash screen share through WebCodecs', { timeout: 90_000 }, async (t) => {
  const gateway = await startGateway(t);
  publishScreen(t, gateway, 'screen', 'flashsv2');
  await waitLive(gateway, 'screen');
  const browser = await launchEngine(t, 'chromium');
  const page = await browser.newPage();
  await page.goto(`${gateway.origin}/watch/screen`);
  const first = await poll('the page drew no picture', () => lookAtCanvas(page), (s) => s.canvas && s.variance > 100, { ms: 20_000 });
  await assertPlaysOn(page, first);
  const listed = await fetch(`${gateway.origin}/api/channels`).then((r) => r.json());
  assert.equal(listed.find((c) => c.name === 'screen')?.video_codec, 'flashsv2');
});

// A screen share's size changes with the screen (another resolution, another window
// shared): the publisher comes back at 480×360 and the same page draws the new size on.
test('[chromium] the viewer page draws a screen share on through a change of its size', { timeout: 90_000 }, async (t) => {
  const gateway = await startGateway(t);
  const first = publishScreen(t, gateway, 'screen', 'flashsv2');
  await waitLive(gateway, 'screen');
  const browser = await launchEngine(t, 'chromium');
  const page = await browser.newPage();
  await page.goto(`${gateway.origin}/watch/screen`);
  const look = () => lookAtCanvas(page);
  await poll('the page drew no picture', look, (s) => s.canvas && s.width === 320 && s.variance > 100, { ms: 20_000 });
  await first.stop();
  publishScreen(t, gateway, 'screen', 'flashsv2', '480x360');
  const bigger = await poll('the page did not draw the new size', look, (s) => s.canvas && s.width === 480 && s.variance > 100, { ms: 30_000, logs: () => pageLogs(page) });
  await sleep(2000);
  const later = await look();
  assert.equal(later.width, 480);
  assert.notEqual(later.digest, bigger.digest, 'the picture does not move');
  assert.equal(later.state, '', `a state shows over the picture: ${later.state}`);
});
