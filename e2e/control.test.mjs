// The player's error model and control, as a page uses them: a refused stream is a
// fatal, typed error (no retries), `load()` switches streams in the same `<video>`,
// `unload()` stops loading and keeps it, relative URLs resolve against the page,
// and every script-data tag comes out as `scriptdata`.
// Needs `cargo xtask wasm` and a gateway built after it (`cargo xtask test` does both).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { launchBrowser, openPage, publish, sleep, startGateway, startSite, until } from './harness.mjs';

const playing = (s) => s.currentTime > 0.5 && !s.paused && s.frames > 10;

/** The page's events named `name`, with their details. */
const eventsOf = (page, name) => page.evaluate((n) => window.events.filter((e) => e.name === n).map((e) => e.detail), name);

test('an unknown channel is a fatal not-found error over WS-FLV and HTTP-FLV, without retries, with either renderer', { timeout: 60_000 }, async (t) => {
  const gateway = await startGateway(t);
  const browser = await launchBrowser(t);
  const site = await startSite(t, gateway);
  for (const query of [
    { url: `ws://127.0.0.1:${gateway.http}/live/nobody.flv` },
    // Relative to the page, HTTP-FLV by default.
    { url: '/live/nobody.flv' },
    // WebCodecs connects with the same code.
    { url: `ws://127.0.0.1:${gateway.http}/live/nobody.flv`, renderer: 'webcodecs' },
    { url: '/live/nobody.flv', renderer: 'webcodecs' },
  ]) {
    const page = await openPage(browser, site, query);
    await until(page, `no fatal error for ${query.url}`, (s) => s.events.includes('error'));
    await sleep(1500);
    const errors = await eventsOf(page, 'error');
    assert.equal(errors.length, 1, `${JSON.stringify(query)}: ${JSON.stringify(errors)}`);
    const [e] = errors;
    assert.equal(e.fatal, true, JSON.stringify(e));
    assert.equal(e.type, 'network');
    assert.equal(e.details, 'not-found');
    assert.equal(e.httpStatus, 404);
    assert.match(e.message, /404/);
    assert.deepEqual(await eventsOf(page, 'reconnecting'), [], 'retried a refused stream');
    await page.close();
  }
});

test('load() switches channels in the same <video>, unload() stops loading and keeps it; script data arrives', { timeout: 90_000 }, async (t) => {
  const gateway = await startGateway(t);
  publish(t, gateway, 'one');
  publish(t, gateway, 'two');
  const browser = await launchBrowser(t);
  const site = await startSite(t, gateway);
  // Relative, over WebSocket: the scheme follows the page's (ws: on http:).
  const page = await openPage(browser, site, { url: `//127.0.0.1:${gateway.http}/live/one.flv`, transport: 'websocket' });
  await until(page, 'channel one did not play', playing);
  const scripts = await eventsOf(page, 'scriptdata');
  assert.ok(
    scripts.some((s) => s.name === 'onMetaData' && typeof s.values[0] === 'object' && s.values[0].width > 0),
    JSON.stringify(scripts),
  );

  const before = await page.evaluate(() => window.sample());
  await page.evaluate(() => {
    window.videoBefore = document.getElementById('video');
    window.player.load('/live/two.flv');
  });
  await until(page, 'channel two did not play after load()', (s) => s.frames > before.frames + 50 && s.currentTime > 1 && !s.paused, 20_000);
  assert.ok(await page.evaluate(() => window.videoBefore === document.getElementById('video')));
  assert.deepEqual((await eventsOf(page, 'error')).filter((e) => e.fatal), []);

  await page.evaluate(() => window.player.unload());
  const stopped = await page.evaluate(() => window.player.stats().bytes);
  await sleep(2000);
  const later = await page.evaluate(() => window.player.stats().bytes);
  assert.equal(later, stopped, 'bytes arrived after unload()');
  assert.ok(await page.evaluate(() => document.body.contains(window.videoBefore)));

  // And back, after unload().
  await page.evaluate(() => window.player.load('/live/one.flv'));
  const back = await page.evaluate(() => window.sample());
  await until(page, 'no playback after load() following unload()', (s) => s.frames > back.frames + 50, 20_000);
});

test('the constructor throws Errors with a code', { timeout: 30_000 }, async (t) => {
  const gateway = await startGateway(t);
  const browser = await launchBrowser(t);
  const page = await openPage(browser, await startSite(t, gateway), { url: '/live/x.flv' });
  const thrown = await page.evaluate(async () => {
    const { Player } = await import('/pkg/flashless.js');
    const video = document.createElement('video');
    const out = [];
    for (const options of [{}, { url: 'rtmp://host/live/x' }]) {
      try {
        await Player.create(video, options);
        out.push(null);
      } catch (e) {
        out.push({ error: e instanceof Error, code: e.code, message: e.message });
      }
    }
    return out;
  });
  assert.deepEqual(
    thrown.map((e) => [e.error, e.code]),
    [
      [true, 'no-url'],
      [true, 'invalid-url'],
    ],
  );
});

// `new Player` cannot wait for the module its renderer needs (`webcodecs.js` here, or
// `nativehls.js`, which `flashless.js` imports only for the players that need them):
// the player is made once it has loaded, `stats()` null until then.
test('a Player constructed while its renderer\'s module loads plays once it has', { timeout: 60_000 }, async (t) => {
  const gateway = await startGateway(t);
  publish(t, gateway, 'cam');
  const browser = await launchBrowser(t);
  const page = await openPage(browser, await startSite(t, gateway), { url: '/live/nobody.flv' });
  const url = `ws://127.0.0.1:${gateway.http}/live/cam.flv`;
  const stats = await page.evaluate(async (url) => {
    const { Player, init } = await import('/pkg/flashless.js');
    await init();
    const video = document.createElement('video');
    video.muted = true;
    document.body.append(video);
    const player = new Player(video, { url, renderer: 'webcodecs' });
    const first = player.stats();
    const deadline = performance.now() + 20_000;
    while (!(player.stats()?.drawnFrames > 25) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const last = player.stats();
    player.destroy();
    return { first, last };
  }, url);
  assert.equal(stats.first, null);
  assert.equal(stats.last?.renderer, 'webcodecs');
  assert.ok(stats.last.drawnFrames > 25, `drawn ${stats.last.drawnFrames}`);
});

test('a <video> error rebuilds the MediaSource once and plays on; a second one is fatal', { timeout: 60_000 }, async (t) => {
  const gateway = await startGateway(t);
  publish(t, gateway, 'cam');
  const browser = await launchBrowser(t);
  const page = await openPage(browser, await startSite(t, gateway), { url: `ws://127.0.0.1:${gateway.http}/live/cam.flv` });
  await until(page, 'playback did not start', playing);
  await sleep(3000);
  const steady = await page.evaluate(() => window.player.stats());
  // One change to chase the start's slip, one back: not one every tick.
  assert.ok(steady.rateChanges <= 4, `rateChanges ${steady.rateChanges}`);

  await page.evaluate(() => document.getElementById('video').dispatchEvent(new Event('error')));
  const before = await page.evaluate(() => window.sample());
  const after = await until(page, 'no playback after the MediaSource was rebuilt', (s) => s.frames > before.frames + 50 && !s.paused, 20_000);
  // The same stream on the same timeline: the position goes on, never back.
  assert.ok(after.currentTime > before.currentTime, `currentTime ${before.currentTime} → ${after.currentTime}`);
  let errors = await eventsOf(page, 'error');
  assert.deepEqual(
    errors.map((e) => [e.type, e.details, e.fatal]),
    [['media', 'decode', false]],
  );

  await page.evaluate(() => document.getElementById('video').dispatchEvent(new Event('error')));
  await sleep(500);
  errors = await eventsOf(page, 'error');
  assert.deepEqual(errors.at(-1) && [errors.at(-1).details, errors.at(-1).fatal], ['decode', true]);
});

test('retry as a function decides; headers go with HTTP-FLV (both renderers); a refused play() is autoplayblocked', { timeout: 60_000 }, async (t) => {
  const gateway = await startGateway(t);
  publish(t, gateway, 'cam');
  const browser = await launchBrowser(t);
  const site = await startSite(t, gateway);
  const page = await browser.newPage();
  await page.addInitScript(() => {
    window.requests = [];
    const fetch = window.fetch;
    window.fetch = (url, init) => {
      window.requests.push({ url: String(url), headers: init && init.headers, credentials: init && init.credentials });
      return fetch(url, init);
    };
    HTMLMediaElement.prototype.play = () => Promise.reject(new DOMException('no gesture', 'NotAllowedError'));
  });
  await page.goto(`${site.origin}/e2e/player.html?url=/live/nobody.flv`);
  await page.waitForFunction(() => window.ready || window.failure);

  const run = async ({ port, renderer }) => {
    const { Player } = await import('/pkg/flashless.js');
    const events = [];
    const record = (player) => {
      for (const n of ['error', 'reconnecting', 'autoplayblocked']) player.on(n, (d) => events.push({ n, d }));
    };
    // Nobody listens on this port: a connection failure, retried as the function says.
    const calls = [];
    const failing = await Player.create(document.createElement('video'), {
      url: `http://127.0.0.1:${port}/live/cam.flv`,
      renderer,
      retry: (context) => {
        calls.push({ attempt: context.attempt, details: context.details, defaultDelayMs: context.defaultDelayMs });
        return context.attempt < 3 ? 50 : false;
      },
    });
    record(failing);
    const video = document.createElement('video');
    document.body.append(video);
    const playing = await Player.create(video, { url: '/live/cam.flv', headers: { 'x-flashless-test': renderer }, withCredentials: true, renderer });
    record(playing);
    await new Promise((r) => setTimeout(r, 4000));
    playing.destroy();
    return { calls, events: events.map((e) => ({ n: e.n, details: e.d && e.d.details, fatal: e.d && e.d.fatal })) };
  };
  const result = await page.evaluate(run, { port: gateway.http + 1, renderer: 'mse' });

  assert.deepEqual(
    result.calls.map((c) => [c.attempt, c.details, typeof c.defaultDelayMs]),
    [
      [1, 'connection', 'number'],
      [2, 'connection', 'number'],
      [3, 'connection', 'number'],
    ],
  );
  assert.ok(result.events.some((e) => e.n === 'error' && e.details === 'connection' && e.fatal), JSON.stringify(result.events));
  assert.ok(result.events.some((e) => e.n === 'autoplayblocked'), JSON.stringify(result.events));
  // The same with WebCodecs, which plays on the same connection code (its sound is an
  // AudioContext's, not the refused play()'s).
  const webcodecs = await page.evaluate(run, { port: gateway.http + 1, renderer: 'webcodecs' });
  assert.deepEqual(
    webcodecs.calls.map((c) => [c.attempt, c.details]),
    [
      [1, 'connection'],
      [2, 'connection'],
      [3, 'connection'],
    ],
  );
  assert.ok(webcodecs.events.some((e) => e.n === 'error' && e.details === 'connection' && e.fatal), JSON.stringify(webcodecs.events));
  const sent = await page.evaluate(() => window.requests.filter((r) => r.url.endsWith('/live/cam.flv') && r.headers));
  for (const renderer of ['mse', 'webcodecs']) {
    assert.ok(
      sent.some((r) => r.headers['x-flashless-test'] === renderer && r.credentials === 'include'),
      `${renderer}: ${JSON.stringify(sent)}`,
    );
  }
});
