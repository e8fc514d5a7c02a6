// The npm package as a user gets it: `npm pack` in pkg/, installed into a fresh
// project, imported by a bundler-less page through an import map.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { launchBrowser, openPage, publish, root, sleep, startGateway, startSite, until } from './harness.mjs';

const PAGE = `<!doctype html>
<meta charset="utf-8">
<script type="importmap">{ "imports": { "flashless": "./node_modules/flashless/flashless.js" } }</script>
<video id="video" muted playsinline></video>
<script type="module">
  import { Player } from 'flashless';
  const video = document.getElementById('video');
  try {
    const url = new URLSearchParams(location.search).get('url');
    window.player = await Player.create(video, { url, liveLatency: 0.5 });
    window.sample = () => ({
      currentTime: video.currentTime,
      frames: video.getVideoPlaybackQuality().totalVideoFrames,
      stats: window.player.stats(),
    });
    window.ready = true;
  } catch (e) {
    window.failure = String(e);
  }
</script>
`;

test('npm pack gives a package that a fresh project installs and plays from a bundler-less page', { timeout: 90_000 }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'flashless-pack-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const [packed] = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: path.join(root, 'pkg'), encoding: 'utf8' }),
  );
  assert.equal(packed.name, 'flashless');
  assert.deepEqual(
    packed.files.map((f) => f.path).sort(),
    ['README.md', 'flashless.d.ts', 'flashless.js', 'flashless_wasm.js', 'flashless_wasm_bg.wasm', 'package.json'],
  );

  const app = path.join(dir, 'app');
  await mkdir(app);
  await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', path.join(dir, packed.filename)], {
    cwd: app,
    stdio: 'ignore',
  });
  await writeFile(path.join(app, 'index.html'), PAGE);

  // The installed package also works in Node, by its bare name.
  const node = execFileSync(
    'node',
    ['--input-type=module', '-e', "import { init, Remuxer } from 'flashless'; await init(); console.log(typeof new Remuxer().push)"],
    { cwd: app, encoding: 'utf8' },
  );
  assert.equal(node.trim(), 'function');

  const gateway = await startGateway(t);
  publish(t, gateway, 'cam');
  const browser = await launchBrowser(t);
  const site = await startSite(t, gateway, { appDir: app });
  const page = await openPage(
    browser,
    site,
    { url: `ws://127.0.0.1:${gateway.http}/live/cam.flv` },
    { pagePath: '/app/index.html' },
  );
  const first = await until(page, 'playback did not start', (s) => s.currentTime > 0.5 && s.frames > 10);
  await sleep(3000);
  const s = await page.evaluate(() => window.sample());
  assert.ok(s.currentTime > first.currentTime + 2 && s.frames > first.frames + 50, JSON.stringify(s));
});
