// Codecs that need Enhanced RTMP (ffmpeg 5.1 cannot publish them): clips built
// by the core's test support (`cargo run --example ertmp_clip`), sent by the
// test site as paced HTTP-FLV, played by the page like any live channel.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { launchBrowser, openPage, root, sleep, startGateway, startSite, until } from './harness.mjs';

const CLIPS = [
  { name: 'av1_opus', video: 'av1', audio: 'opus', plays: ['av01.', 'opus'] },
  { name: 'vp9_opus', video: 'vp9', audio: 'opus', plays: ['vp09.', 'opus'] },
  { name: 'vp9_flac', video: 'vp9', audio: 'flac', plays: ['vp09.', 'flac'] },
  // Debian's Chromium has no HEVC decoder: the player says so and plays the audio.
  { name: 'hevc_opus', video: 'hevc', audio: 'opus', plays: ['opus'], refused: 'video' },
];

test('Enhanced RTMP codecs: AV1 + Opus, VP9 + Opus and VP9 + FLAC play; HEVC is refused by name while Opus plays on', { timeout: 240_000 }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'flashless-ertmp-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const c of CLIPS) {
    execFileSync(
      process.env.CARGO || 'cargo',
      ['run', '-q', '-p', 'flashless-core', '--example', 'ertmp_clip', '--', c.video, c.audio, '8', path.join(dir, `${c.name}.flv`)],
      { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] },
    );
  }
  const gateway = await startGateway(t);
  const browser = await launchBrowser(t);
  const site = await startSite(t, gateway, { clipsDir: dir });
  for (const c of CLIPS) {
    await t.test(c.name, async () => {
      const page = await openPage(browser, site, { url: `${site.origin}/clips/${c.name}.flv` });
      const first = await until(page, `${c.name}: playback did not start`, (s) => s.currentTime > 0.5 && !s.paused, 20_000);
      await sleep(2500);
      const s = await page.evaluate(() => window.sample());
      assert.ok(s.currentTime > first.currentTime + 1.5, `currentTime ${first.currentTime} → ${s.currentTime}`);
      assert.equal(s.stats.codecs.length, c.plays.length, JSON.stringify(s.stats.codecs));
      c.plays.forEach((prefix, i) => assert.ok(s.stats.codecs[i].startsWith(prefix), JSON.stringify(s.stats.codecs)));
      if (c.video && !c.refused) assert.ok(s.frames > first.frames + 20 && s.variance > 100, JSON.stringify(s));
      if (c.refused) {
        assert.equal(s.errors.length, 1, JSON.stringify(s.errors));
        assert.match(s.errors[0], /video codec hvc1\.\S+ is not supported by this browser/);
      } else {
        assert.deepEqual(s.errors, []);
      }
      // The support's sine is ffmpeg's default 440 Hz.
      assert.ok(s.tone.peakContrast > 20 && Math.abs(s.tone.loudestHz - 440) < 30, `the sine is heard: ${JSON.stringify(s.tone)}`);
      await page.close();
    });
  }
  // WebCodecs too: the VideoDecoder takes the HEVC configuration, then refuses it
  // (NotSupportedError, asynchronously). Said once as an unsupported codec, not as
  // failed decodes, while the sound plays on.
  await t.test('hevc_opus, renderer: webcodecs', async () => {
    const page = await openPage(browser, site, { url: `${site.origin}/clips/hevc_opus.flv` }, { pagePath: '/e2e/webcodecs.html' });
    const first = await until(page, 'the sound did not start', (s) => s.stats.audioTime > 0.5, 20_000);
    await sleep(2500);
    const s = await page.evaluate(() => window.sample());
    assert.ok(s.stats.audioTime > first.stats.audioTime + 2, `audio clock ${first.stats.audioTime} → ${s.stats.audioTime}`);
    t.diagnostic(JSON.stringify({ codecs: s.stats.codecs, errors: s.errors, decoded: s.stats.decodedFrames, drawn: s.stats.drawnFrames }));
    assert.deepEqual(s.stats.codecs, ['opus']);
    assert.equal(s.errors.length, 1, JSON.stringify(s.errors));
    assert.match(s.errors[0], /video codec hvc1\.\S+ is not supported by this browser/);
    await page.close();
  });
});
