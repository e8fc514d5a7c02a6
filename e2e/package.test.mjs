// The npm package as a user gets it: `npm pack` in pkg/, installed into a fresh
// project, imported by a bundler-less page through an import map, bundled by Vite
// and by webpack 5, and loaded as a classic script (the global `flashless`); and its
// lean build `flashless/lite` from a bundler-less page and from Node.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

import { launchEngine, openPage, publish, root, sleep, startGateway, startSite, test, until, waitLive } from './harness.mjs';

// What a user's page runs: play `?url=` (with `?renderer=` if given) and expose
// `window.sample()` to the test.
const SCRIPT = `
import { Player } from 'flashless';
const video = document.getElementById('video');
const query = new URLSearchParams(location.search);
const errors = [];
// Frames shown (WebKitGTK's totalVideoFrames restarts at each playbackRate change).
let frames = 0;
const count = () => {
  frames++;
  video.requestVideoFrameCallback(count);
};
video.requestVideoFrameCallback(count);
Player.create(video, { url: query.get('url'), renderer: query.get('renderer') ?? undefined, liveLatency: 0.5 }).then(
  (player) => {
    window.player = player;
    player.on('error', (e) => errors.push(e.message));
    // WebCodecs draws on a canvas of its own, on its own clock.
    const webcodecs = query.get('renderer') === 'webcodecs';
    window.sample = () => ({
      currentTime: webcodecs ? player.stats().currentTime : video.currentTime,
      frames: webcodecs ? player.stats().decodedFrames : frames,
      errors,
      stats: player.stats(),
      // Changes if the page reloads.
      timeOrigin: performance.timeOrigin,
    });
    window.ready = true;
  },
  (e) => {
    window.failure = String(e);
  },
);
`;

// The same with the classic script's global instead of an import.
const CLASSIC = SCRIPT.replace("import { Player } from 'flashless';", 'const { Player } = flashless;');

/** webpack 5 (pinned in e2e/package.json) bundles `dir/main.js` into `dir/dist/main.js`, as a project's config would. */
function webpackBuild(dir, modules) {
  const webpack = createRequire(import.meta.url)('webpack');
  const config = {
    mode: 'production',
    context: dir,
    entry: './main.js',
    output: { path: path.join(dir, 'dist'), filename: 'main.js', publicPath: 'auto' },
    resolve: { modules: [modules] },
    devtool: false,
  };
  return new Promise((resolve, reject) =>
    webpack(config, (err, stats) => {
      if (err || stats.hasErrors()) reject(err || new Error(stats.toString('errors-only')));
      else resolve(stats);
    }),
  );
}

const page = (script) => `<!doctype html>
<meta charset="utf-8">
<video id="video" muted playsinline></video>
${script}
`;

/**
 * Plays `channel` of `gateway` on `pagePath` of the user's site in `engine` (with `renderer`
 * if given), for a few seconds, with no error.
 */
async function playsOn(t, gateway, app, pagePath, { engine = 'chromium', channel = 'cam', renderer } = {}) {
  const browser = await launchEngine(t, engine);
  const site = await startSite(t, gateway, { appDir: app });
  const query = { url: `ws://127.0.0.1:${gateway.http}/live/${channel}.flv`, ...(renderer && { renderer }) };
  const tab = await openPage(browser, site, query, { pagePath });
  const first = await until(tab, 'playback did not start', (s) => s.currentTime > 0.5 && s.frames > 10);
  await sleep(3000);
  const s = await tab.evaluate(() => window.sample());
  const where = `${engine} ${pagePath} ${channel}: ${JSON.stringify(s)}`;
  assert.ok(s.currentTime > first.currentTime + 2 && s.frames > first.frames + 50, where);
  assert.deepEqual(s.errors, [], where);
  return { tab, browser, sample: s };
}

/** The player's latency (newest media received − playhead), sampled each 500 ms for `seconds`: all under `limit`. */
async function holdsLatency(tab, limit, seconds) {
  const seen = [];
  for (let i = 0; i < seconds * 2; i++) {
    await sleep(500);
    seen.push((await tab.evaluate(() => window.sample())).stats.latency);
  }
  assert.ok(Math.max(...seen) < limit, `latency over ${limit} s: ${seen.map((l) => l.toFixed(2))}`);
}

test('npm pack gives a package that a fresh project installs and plays from a bundler-less page (in Chromium, Firefox and WebKitGTK), Vite, webpack 5, a classic script and its lean build flashless/lite, a Flash camera through WebCodecs from each bundle, under 1 s behind, across a publisher restart', { timeout: 240_000 }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'flashless-pack-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const [packed] = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: path.join(root, 'pkg'), encoding: 'utf8' }),
  );
  assert.equal(packed.name, 'flashless');
  assert.deepEqual(
    packed.files.map((f) => f.path).sort(),
    [
      'README.md',
      'flashless.d.ts',
      'flashless.global.js',
      'flashless.js',
      'flashless.lite.js',
      'flashless_lite_wasm_bg.wasm',
      'flashless_pictures.js',
      'flashless_pictures_bg.wasm',
      'flashless_wasm.js',
      'flashless_wasm_bg.wasm',
      'nativehls.js',
      'package.json',
      'webcodecs.js',
    ],
  );

  const app = path.join(dir, 'app');
  await mkdir(app);
  await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', path.join(dir, packed.filename)], {
    cwd: app,
    stdio: 'ignore',
  });
  // Bundler-less: an import map names the installed package.
  await writeFile(
    path.join(app, 'index.html'),
    page(
      '<script type="importmap">{ "imports": { "flashless": "./node_modules/flashless/flashless.js" } }</script>\n' +
        `<script type="module">${SCRIPT}</script>`,
    ),
  );
  // The lean build, by its export `flashless/lite` (the import map names the file the
  // package's "exports" map it to).
  const exportsMap = JSON.parse(await readFile(path.join(app, 'node_modules/flashless/package.json'), 'utf8')).exports;
  await writeFile(
    path.join(app, 'lite.html'),
    page(
      `<script type="importmap">{ "imports": { "flashless/lite": "./node_modules/flashless/${exportsMap['./lite'].default}" } }</script>\n` +
        `<script type="module">${SCRIPT.replace("from 'flashless'", "from 'flashless/lite'")}</script>`,
    ),
  );
  // Vite: the same script as an entry module; the build resolves the package from
  // node_modules and emits the wasm as an asset.
  const vite = path.join(app, 'vite');
  await mkdir(vite);
  await writeFile(path.join(vite, 'main.js'), SCRIPT);
  await writeFile(path.join(vite, 'index.html'), page('<script type="module" src="./main.js"></script>'));
  execFileSync(
    'node',
    [path.join(root, 'e2e/node_modules/vite/bin/vite.js'), 'build', vite, '--base', './', '--outDir', 'dist', '--logLevel', 'error'],
    { cwd: app, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const emitted = await readdir(path.join(vite, 'dist/assets'));
  assert.ok(emitted.some((f) => f.endsWith('.wasm')), `vite emitted ${emitted}`);
  // webpack 5: the same entry; `new URL('…wasm', import.meta.url)` becomes an emitted asset.
  const packed5 = path.join(app, 'webpack');
  await mkdir(packed5);
  await writeFile(path.join(packed5, 'main.js'), SCRIPT);
  await webpackBuild(packed5, path.join(app, 'node_modules'));
  await writeFile(path.join(packed5, 'dist/index.html'), page('<script src="./main.js"></script>'));
  const emitted5 = await readdir(path.join(packed5, 'dist'));
  assert.ok(emitted5.some((f) => f.endsWith('.wasm')), `webpack emitted ${emitted5}`);
  // A plain <script> tag: the global `flashless`; the wasm loads from next to the script.
  await writeFile(
    path.join(app, 'classic.html'),
    page(`<script src="./node_modules/flashless/flashless.global.js"></script>\n<script>${CLASSIC}</script>`),
  );

  // The installed package also works in Node, by its bare name.
  const node = execFileSync(
    'node',
    ['--input-type=module', '-e', "import { init, Remuxer } from 'flashless'; await init(); console.log(typeof new Remuxer().push)"],
    { cwd: app, encoding: 'utf8' },
  );
  assert.equal(node.trim(), 'function');
  const nodeLite = execFileSync(
    'node',
    [
      '--input-type=module',
      '-e',
      "import { init, Remuxer } from 'flashless/lite'; await init(); console.log(new Remuxer().push(new Uint8Array([70, 76, 86, 1, 5, 0, 0, 0, 9, 0, 0, 0, 0])).length)",
    ],
    { cwd: app, encoding: 'utf8' },
  );
  assert.match(nodeLite.trim(), /^\d+$/);

  const gateway = await startGateway(t);
  let ffmpeg = publish(t, gateway, 'cam');
  // Each build plays, then its browser closes: several players decoding at once would
  // starve the latency check below of CPU.
  for (const built of ['/app/vite/dist/index.html', '/app/webpack/dist/index.html', '/app/classic.html', '/app/lite.html']) {
    await (await playsOn(t, gateway, app, built)).browser.close();
  }
  // A Flash camera's channel (Sorenson Spark) through WebCodecs: its decoder is a wasm
  // module of its own (flashless_pictures), which webcodecs.js imports when the first
  // picture comes; each bundler must have emitted and found it.
  const spark = publish(t, gateway, 'spark', { video: 'flv' });
  await waitLive(gateway, 'spark');
  for (const built of ['/app/vite/dist/index.html', '/app/webpack/dist/index.html', '/app/classic.html']) {
    const played = await playsOn(t, gateway, app, built, { channel: 'spark', renderer: 'webcodecs' });
    assert.deepEqual(played.sample.stats.codecs, ['flv1', 'mp4a.40.2'], built);
    await played.browser.close();
  }
  await spark.stop();
  // The bundler-less page in the other engines too.
  for (const engine of ['firefox', 'webkit']) await (await playsOn(t, gateway, app, '/app/index.html', { engine })).browser.close();
  const { tab } = await playsOn(t, gateway, app, '/app/index.html');

  // Live: under a second behind, before and after the publisher restarts, in the same page.
  await holdsLatency(tab, 1.0, 10);
  const before = await tab.evaluate(() => window.sample());
  await ffmpeg.stop();
  ffmpeg = publish(t, gateway, 'cam');
  const back = await until(
    tab,
    'playback did not resume after the publisher restarted',
    (s) => s.frames > before.frames + 100 && s.currentTime > before.currentTime + 4,
    30_000,
  );
  assert.equal(back.timeOrigin, before.timeOrigin, 'the page reloaded');
  await holdsLatency(tab, 1.0, 10);
});
