// Codecs that need Enhanced RTMP (ffmpeg 5.1 cannot publish them): clips built
// by the core's test support (`cargo run --example ertmp_clip`), sent by the
// test site as paced HTTP-FLV, played by the page like any live channel.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';

import { ENGINES, expectIn, launchEngine, openPage, root, sleep, startGateway, startSite, test, until } from './harness.mjs';

const CLIPS = [
  { name: 'av1_opus', video: 'av1', audio: 'opus', plays: ['av01.', 'opus'] },
  { name: 'vp9_opus', video: 'vp9', audio: 'opus', plays: ['vp09.', 'opus'] },
  { name: 'vp9_flac', video: 'vp9', audio: 'flac', plays: ['vp09.', 'flac'] },
  // Debian's Chromium has no HEVC decoder: the player says so and plays the audio.
  // Firefox and WebKitGTK play it.
  { name: 'hevc_opus', video: 'hevc', audio: 'opus', plays: ['hvc1.', 'opus'] },
];

/** The clips, built once (by the first engine's test) into a directory of their own. */
let built;
after(async () => {
  if (built) await rm(await built, { recursive: true, force: true });
});
function clips() {
  built ??= (async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'flashless-ertmp-'));
    for (const c of CLIPS) {
      execFileSync(
        process.env.CARGO || 'cargo',
        ['run', '-q', '-p', 'flashless-core', '--example', 'ertmp_clip', '--', c.video, c.audio, '8', path.join(dir, `${c.name}.flv`)],
        { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] },
      );
    }
    return dir;
  })();
  return built;
}

for (const engine of ENGINES) {
  test(`[${engine}] Enhanced RTMP codecs: AV1 + Opus, VP9 + Opus, VP9 + FLAC and HEVC + Opus play, or HEVC is refused by name where the browser has no decoder while Opus plays on`, { timeout: 240_000 }, async (t) => {
    const dir = await clips();
    const gateway = await startGateway(t);
    const browser = await launchEngine(t, engine);
    const site = await startSite(t, gateway, { clipsDir: dir });
    for (const c of CLIPS) {
      await t.test(c.name, async (t) => {
        const page = await openPage(browser, site, { url: `${site.origin}/clips/${c.name}.flv` });
        const first = await until(page, `${c.name}: playback did not start`, (s) => s.currentTime > 0.5 && !s.paused, 20_000);
        // Firefox without a sound device dropped a third or more of VP9's frames beside FLAC;
        // with one (as the tests give it since 2026-12-07), none.
        await sleep(4000);
        const s = await page.evaluate(() => window.sample());
        const refused =
          c.video === 'hevc' && !(await page.evaluate(() => MediaSource.isTypeSupported('video/mp4; codecs="hvc1.1.6.L60.90"')));
        const plays = refused ? c.plays.slice(1) : c.plays;
        t.diagnostic(`${s.stats.codecs.join(', ')}; frames ${first.frames} → ${s.frames} (${s.dropped} dropped); errors ${JSON.stringify(s.errors)}`);
        assert.ok(s.currentTime > first.currentTime + 3, `currentTime ${first.currentTime} → ${s.currentTime}`);
        assert.equal(s.stats.codecs.length, plays.length, JSON.stringify(s.stats.codecs));
        plays.forEach((prefix, i) => assert.ok(s.stats.codecs[i].startsWith(prefix), JSON.stringify(s.stats.codecs)));
        if (refused) {
          assert.equal(s.errors.length, 1, JSON.stringify(s.errors));
          assert.match(s.errors[0], /video codec hvc1\.\S+ is not supported by this browser/);
        } else {
          assert.ok(s.frames > first.frames + 20 && s.variance > 100, JSON.stringify(s));
          assert.deepEqual(s.errors, []);
        }
        await expectIn(t, engine, 'sound', async () => {
          // The support's sine is ffmpeg's default 440 Hz. Heard within 3 s more: a loaded
          // WebKitGTK's analyser once heard nothing at all 4 s in, once in three full runs.
          const heard = (tone) => tone.peakContrast > 20 && Math.abs(tone.loudestHz - 440) < 30;
          let tone = s.tone;
          for (let i = 0; i < 6 && !heard(tone); i++) {
            await sleep(500);
            tone = (await page.evaluate(() => window.sample())).tone;
          }
          assert.ok(heard(tone), `the sine is heard: ${JSON.stringify(tone)}`);
        });
        await page.close();
      });
    }
    if (engine !== 'chromium') return;
    // WebCodecs too: the VideoDecoder takes the HEVC configuration, then refuses it
    // (asynchronously). Said once as an unsupported codec, not as failed decodes, while
    // the sound plays on.
    await t.test('hevc_opus, renderer: webcodecs', async (t) => {
      const page = await openPage(browser, site, { url: `${site.origin}/clips/hevc_opus.flv` }, { pagePath: '/e2e/webcodecs.html' });
      const first = await until(page, 'the sound did not start', (s) => s.stats.audioTime > 0.5, 20_000);
      await sleep(2500);
      const s = await page.evaluate(() => window.sample());
      t.diagnostic(JSON.stringify({ codecs: s.stats.codecs, errors: s.errors, decoded: s.stats.decodedFrames }));
      assert.ok(s.stats.audioTime > first.stats.audioTime + 2, `audio clock ${first.stats.audioTime} → ${s.stats.audioTime}`);
      assert.deepEqual(s.stats.codecs, ['opus']);
      assert.equal(s.errors.length, 1, JSON.stringify(s.errors));
      assert.match(s.errors[0], /video codec hvc1\.\S+ is not supported by this browser/);
      await page.close();
    });
  });
}
