// Legacy FLV audio in the browser (issue #19): ffmpeg publishes H.264 with
// G.711 A-law and µ-law (8 kHz mono, as IP cameras send), 16-bit PCM, Flash
// ADPCM and Nellymoser (Flash Player's microphone, at its 8 kHz); the player's
// core turns each into FLAC frames in fMP4, and the page plays picture and the
// 1 kHz tone. In Chromium and Firefox (both play FLAC in MSE); Firefox hears no
// sound here (EXPECTED_FAILURES in engines.mjs); through WebCodecs too
// (Chromium). Speex (Flash's other microphone codec) is not converted: the
// player reports it by name and the video plays on (Chromium).
// Needs `cargo xtask wasm` (`cargo xtask test` builds it).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { expectIn, launchEngine, openPage, sleep, start, startGateway, startSite, until, waitLive } from './harness.mjs';

const CODECS = [
  ['pcm_alaw', ['-ar', '8000', '-ac', '1']],
  ['pcm_mulaw', ['-ar', '8000', '-ac', '1']],
  ['pcm_s16le', ['-ar', '44100', '-ac', '2']],
  ['adpcm_swf', ['-ar', '22050', '-ac', '1']],
  ['nellymoser', ['-ar', '8000', '-ac', '1']],
];

/** ffmpeg publishing testsrc (H.264) and a 1 kHz sine as `codec`, in real time. */
function publishLegacy(t, gateway, name, codec, format) {
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re'];
  args.push('-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25');
  args.push('-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=44100');
  args.push('-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '25', '-pix_fmt', 'yuv420p');
  args.push('-c:a', codec, ...format);
  args.push('-f', 'flv', `rtmp://127.0.0.1:${gateway.rtmp}/live/${name}`);
  return start(t, 'ffmpeg', args, `ffmpeg ${codec}`);
}

for (const engine of ['chromium', 'firefox']) {
  test(`[${engine}] legacy audio (G.711 A-law, µ-law, PCM, Flash ADPCM, Nellymoser) plays as FLAC with the picture`, { timeout: 180_000 }, async (t) => {
    const gateway = await startGateway(t);
    const browser = await launchEngine(t, engine);
    const site = await startSite(t, gateway);
    for (const [codec, format] of CODECS) {
      await t.test(codec, async (sub) => {
        publishLegacy(sub, gateway, codec, codec, format);
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
        await page.close();
      });
    }
  });
}

test('[chromium] Speex is reported by name and the video plays on', { timeout: 120_000 }, async (t) => {
  const gateway = await startGateway(t);
  const browser = await launchEngine(t, 'chromium');
  const site = await startSite(t, gateway);
  const cases = [['libspeex', ['-ar', '16000', '-ac', '1'], /Speex/]];
  for (const [codec, format, name] of cases) {
    await t.test(codec, async (sub) => {
      publishLegacy(sub, gateway, codec, codec, format);
      await waitLive(gateway, codec);
      const page = await openPage(browser, site, { url: `ws://127.0.0.1:${gateway.http}/live/${codec}.flv` });
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
// sound plays on the audio clock at the source's rate (8 kHz here).
test('[chromium] with renderer: \'webcodecs\', Nellymoser and G.711 play as FLAC at their rate', { timeout: 120_000 }, async (t) => {
  const gateway = await startGateway(t);
  const browser = await launchEngine(t, 'chromium');
  const site = await startSite(t, gateway);
  for (const codec of ['nellymoser', 'pcm_alaw']) {
    await t.test(codec, async (sub) => {
      publishLegacy(sub, gateway, codec, codec, ['-ar', '8000', '-ac', '1']);
      await waitLive(gateway, codec);
      const url = `ws://127.0.0.1:${gateway.http}/live/${codec}.flv`;
      const page = await openPage(browser, site, { url }, { pagePath: '/e2e/webcodecs.html' });
      const first = await until(page, `${codec}: no sound decoded`, (s) => s.stats.audioFrames > 8000, 20_000);
      await sleep(5000);
      const last = await page.evaluate(() => window.sample());
      assert.deepEqual(last.errors, []);
      assert.equal(last.stats.renderer, 'webcodecs');
      assert.ok(last.stats.codecs.includes('flac'), JSON.stringify(last.stats.codecs));
      const played = (last.stats.audioFrames - first.stats.audioFrames) / 8000;
      const seconds = (last.at - first.at) / 1000;
      assert.ok(played > seconds * 0.8 && played < seconds * 1.2, `${played} s of sound in ${seconds} s`);
      await page.close();
    });
  }
});
