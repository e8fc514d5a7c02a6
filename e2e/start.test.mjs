// The start of playback: `Player.create` opens the stream's WebSocket while the
// wasm module loads and compiles, and the player takes that very socket with
// what it already received (the server's start burst), in both builds.
// Needs `cargo xtask wasm` and a gateway built after it (`cargo xtask test` does both).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { launchBrowser, publish, sleep, startGateway, startSite, until } from './harness.mjs';

// Before the page's scripts: counts WebSockets and notes when each was made and
// when the wasm module was instantiated, on one clock.
const WATCH = () => {
  window.__start = { sockets: [], instantiated: [] };
  const Native = WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      window.__start.sockets.push({ at: performance.now(), url: String(args[0]) });
    }
  };
  for (const name of ['instantiateStreaming', 'instantiate']) {
    const native = WebAssembly[name];
    WebAssembly[name] = async (...args) => {
      const result = await native.apply(WebAssembly, args);
      window.__start.instantiated.push(performance.now());
      return result;
    };
  }
};

for (const [build, pkg] of [
  ['flashless', '/pkg/flashless.js'],
  ['flashless/lite', '/pkg/flashless.lite.js'],
]) {
  test(`${build}: Player.create opens one WebSocket before the wasm module is ready, and plays from it`, { timeout: 60_000 }, async (t) => {
    const gateway = await startGateway(t);
    publish(t, gateway, 'cam');
    const browser = await launchBrowser(t);
    const site = await startSite(t, gateway);
    // A channel with a cached GOP: the start burst comes as soon as the socket opens.
    await sleep(2500);
    const page = await browser.newPage();
    await page.addInitScript(WATCH);
    const query = new URLSearchParams({ url: `ws://127.0.0.1:${gateway.http}/live/cam.flv`, pkg });
    await page.goto(`${site.origin}/e2e/player.html?${query}`);
    await page.waitForFunction(() => window.ready || window.failure, null, { timeout: 15_000 });
    assert.equal(await page.evaluate(() => window.failure), undefined);
    const first = await until(page, 'playback did not start', (s) => s.currentTime > 0.5 && s.frames > 10);
    await sleep(2000);
    const s = await page.evaluate(() => window.sample());
    assert.ok(s.frames > first.frames + 30, `frames ${first.frames} → ${s.frames}`);
    assert.deepEqual(s.errors, []);
    const start = await page.evaluate(() => window.__start);
    assert.equal(start.sockets.length, 1, JSON.stringify(start));
    assert.equal(start.instantiated.length, 1, JSON.stringify(start));
    assert.ok(start.sockets[0].at < start.instantiated[0], `socket at ${start.sockets[0].at} ms, wasm ready at ${start.instantiated[0]} ms`);
    // What the socket received before the player took it reached the player: its first
    // message is the FLV header, without which the stream is no FLV (an error above).
    assert.equal(s.stats.reconnects, 0, JSON.stringify(s.stats));
  });
}
