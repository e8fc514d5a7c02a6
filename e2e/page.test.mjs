// The viewer page (`web/page/`, served by the gateway) in Debian's Chromium, end to end
// (and, first, a channel played in it in each engine of `engines.mjs`):
// ffmpeg → nginx-rtmp → the gateway pulling it → the page; a publisher pushing to the
// gateway; the built-in demo; a channel going offline and back; the embed page; keys.
// One browser for all scenarios, run in sequence; no console error anywhere.
// Needs `cargo xtask wasm` and a gateway built after it (`cargo xtask test` does both).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

import {
  ENGINES,
  expectIn,
  freePort,
  gatewayBin,
  launchBrowser,
  launchEngine,
  pageLogs,
  poll,
  publish,
  requireTools,
  root,
  selfSigned,
  sleep,
  startGateway,
  startNginx,
  test,
} from './harness.mjs';
import { installProbe } from './page/probe.js';

const ARTIFACTS = path.join(root, 'e2e/artifacts');

// Injected into every page after `installProbe`: the state of the viewer page's <video>.
function sampler() {
  const video = () => document.getElementById('video');
  // Media events do not bubble: seen on the way down.
  let waits = 0;
  document.addEventListener('waiting', () => waits++, true);
  Object.assign(window.__probe, {
    sample() {
      const v = video();
      const state = document.getElementById('state');
      return {
        currentTime: v.currentTime,
        ahead: v.buffered.length ? v.buffered.end(v.buffered.length - 1) - v.currentTime : NaN,
        paused: v.paused,
        muted: v.muted,
        readyState: v.readyState,
        width: v.videoWidth,
        state: state ? state.textContent : null,
        stateVisible: state ? getComputedStyle(state).display !== 'none' && state.textContent !== '' : false,
        hash: location.hash,
        waits,
      };
    },
  });
}

// Injected to play as browsers do by default: no sound before the viewer interacts.
function blockAutoplayWithSound() {
  let gesture = false;
  addEventListener('pointerdown', () => (gesture = true), true);
  addEventListener('keydown', () => (gesture = true), true);
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function () {
    if (!this.muted && !gesture) return Promise.reject(new DOMException('play() needs a user gesture', 'NotAllowedError'));
    return play.call(this);
  };
}

/** A new tab on `url` that records console errors and page errors. */
async function open(browser, url, { autoplayPolicy = false } = {}) {
  const page = await browser.newPage();
  if (autoplayPolicy) await page.addInitScript(blockAutoplayWithSound);
  page.errors = [];
  page.logs = [];
  page.on('console', (m) => {
    page.logs.push(`${m.type()}: ${m.text()}`);
    if (m.type() === 'error') page.errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => page.errors.push(`pageerror: ${e.message}`));
  page.wasmRequests = [];
  page.listings = []; // when the page asked for the channel list (ms)
  page.on('request', (r) => {
    if (r.url().endsWith('.wasm')) page.wasmRequests.push(r.url());
    if (r.url().endsWith('/api/channels')) page.listings.push(Date.now());
  });
  await page.addInitScript(installProbe);
  await page.addInitScript(sampler);
  await page.goto(url);
  return page;
}

/** Polls `f()` (in Node) until `done(value)` holds; fails naming `what`, with how the values went. */
function until(page, what, f, done, ms = 15_000) {
  return poll(what, f, done, { ms, logs: () => pageLogs(page) });
}

const sample = (page) => page.evaluate(() => window.__probe.sample());

/** Waits until the page plays: time advances past `after` (seconds) and the video has a size. */
async function playing(page, what, { after = 0.5, ms = 20_000 } = {}) {
  return until(page, what, () => sample(page), (s) => s.currentTime > after && !s.paused && s.width > 0, ms);
}

/** Two snapshots a while apart: not black, not flat, coloured (testsrc's bars), and different. */
async function assertMovingPicture(page) {
  // The first frames after a start may not be composited yet: wait for a lit one.
  const a = await until(page, 'no lit picture', () => page.evaluate(() => window.__probe.picture()), (p) => p && p.mean > 30);
  await sleep(600);
  const b = await page.evaluate(() => window.__probe.picture());
  for (const p of [a, b]) {
    assert.ok(p.mean > 30, `picture too dark (black?): mean luma ${p.mean}`);
    assert.ok(p.variance > 100, `picture flat: luma variance ${p.variance}`);
    assert.ok(p.saturation > 100, `picture without colour: saturation ${p.saturation}`);
  }
  const diff = a.luma.reduce((s, y, i) => s + Math.abs(y - b.luma[i]), 0) / a.luma.length;
  assert.ok(diff > 0.5, `frames did not change between snapshots: mean luma difference ${diff}`);
}

/** The 1 kHz tone is audible through the element (so it is not muted). */
async function assertTone(page) {
  const s = await sample(page);
  assert.equal(s.muted, false, 'the video is muted');
  await until(
    page,
    'no 1 kHz tone',
    () => page.evaluate(() => window.__probe.tone()),
    (x) => x.contrast > 30,
    10_000,
  );
}

/** The channel's entry in the list: its badge text and whether it is the current one. */
function listEntry(page, name) {
  return page.evaluate((name) => {
    for (const a of document.querySelectorAll('#channel-list a')) {
      if (a.querySelector('.name')?.textContent === name) {
        return { state: a.querySelector('.badge')?.textContent, current: a.getAttribute('aria-current'), href: a.getAttribute('href') };
      }
    }
    return null;
  }, name);
}

async function readStats(page) {
  return page.evaluate(() => {
    const out = { visible: !document.getElementById('overlay').hidden };
    for (const dd of document.querySelectorAll('#stats dd')) out[dd.dataset.stat] = dd.textContent;
    return out;
  });
}

function assertNoErrors(page) {
  assert.deepEqual(page.errors, [], `console errors:\n${page.logs.join('\n')}`);
}

test('the viewer page', { timeout: 240_000 }, async (t) => {
  requireTools('ffmpeg', 'nginx');
  const browser = await launchBrowser(t);

  await t.test('an nginx-rtmp channel pulled by the gateway: listed live, selected, plays picture and sound, stats', async (t) => {
    const nginx = await startNginx(t);
    let source = publish(t, nginx, 'cam');
    // With the demo on too, and the page opened on it: picking cam is the viewer's doing.
    const gateway = await startGateway(t, { demo: true, extra: ['--channel', `cam=rtmp://127.0.0.1:${nginx.rtmp}/live/cam live=1`] });
    const page = await open(browser, `${gateway.origin}/#/watch/demo`);
    t.after(() => page.close());

    await until(page, 'cam is not listed as live', () => listEntry(page, 'cam'), (e) => e?.state === 'live');
    await playing(page, 'the demo did not play first');
    assert.equal((await listEntry(page, 'demo')).current, 'page');
    await page.click('#channel-list a:has(.name:text-is("cam"))');
    await until(page, 'the URL does not name cam', () => sample(page), (s) => s.hash === '#/watch/cam');
    const first = await playing(page, 'playback did not start');
    assert.equal((await listEntry(page, 'cam')).current, 'page');
    assert.equal((await listEntry(page, 'demo')).current, null);
    await until(page, 'the picture is not cam\'s 320×240', () => sample(page), (s) => s.width === 320);
    await assertMovingPicture(page);
    await assertTone(page);
    const later = await until(page, 'time does not advance', () => sample(page), (s) => s.currentTime > first.currentTime + 1.5);
    assert.ok(!later.stateVisible, `a state shows over a playing video: ${later.state}`);
    // The wasm compiled from the page's head is the one the player runs: fetched once.
    assert.deepEqual(page.wasmRequests.map((u) => new URL(u).pathname), ['/pkg/flashless_wasm_bg.wasm']);

    // The statistics overlay, toggled with `s`.
    await page.keyboard.press('s');
    const stats = await until(
      page,
      'the stats overlay shows no numbers',
      () => readStats(page),
      (s) => s.visible && /avc1/.test(s.codecs ?? '') && Number.isFinite(parseFloat(s.fps)) && parseFloat(s.fps) > 15,
    );
    const latency = parseFloat(stats.latency);
    const fps = parseFloat(stats.fps);
    assert.ok(latency >= 0 && latency < 2, `latency ${stats.latency}`);
    assert.ok(fps >= 15 && fps <= 30, `fps ${stats.fps}`);
    assert.match(stats.codecs, /avc1\.[0-9a-f]{6}/);
    assert.match(stats.codecs, /mp4a\.40\.2/);
    assert.match(stats.size, /^320×240$/);
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'page-playing.png') });
    await page.keyboard.press('s');
    assert.equal((await readStats(page)).visible, false, 's hides the overlay again');

    // The source behind nginx goes away and comes back: the page says so, then plays on.
    await source.stop();
    const gone = await until(
      page,
      'no word over the video that the source is away',
      () => sample(page),
      (s) => s.stateVisible && /source|offline|reconnect/i.test(s.state),
    );
    t.diagnostic(`without a source: "${gone.state}"`);
    source = publish(t, nginx, 'cam');
    await until(
      page,
      'playback did not resume after the source came back',
      () => sample(page),
      (s) => s.currentTime > gone.currentTime + 2 && !s.paused && !s.stateVisible,
      30_000,
    );
    await assertMovingPicture(page);
    assertNoErrors(page);
  });

  await t.test('a channel published to the gateway shows up and plays; offline and back in the same page', async (t) => {
    const gateway = await startGateway(t);
    const page = await open(browser, `${gateway.origin}/`);
    t.after(() => page.close());
    await until(page, 'the empty list is not explained', () => page.isVisible('#channels-empty'), Boolean);

    let ffmpeg = publish(t, gateway, 'pushed');
    await until(page, 'pushed is not listed as live', () => listEntry(page, 'pushed'), (e) => e?.state === 'live');
    // The only live channel is picked by itself.
    await until(page, 'the page did not pick pushed', () => sample(page), (s) => s.hash === '#/watch/pushed');
    const first = await playing(page, 'playback did not start');
    await assertMovingPicture(page);
    await assertTone(page);
    const loadId = await page.evaluate(() => (window.__loadId ??= Math.random()));

    // The publisher goes away: the page says so over the video.
    await ffmpeg.stop();
    const gone = await until(
      page,
      'no offline/reconnecting state over the video',
      () => sample(page),
      (s) => s.stateVisible && /offline|reconnect|waiting/i.test(s.state),
    );
    assert.ok(gone.currentTime >= first.currentTime);
    await until(page, 'the list still says pushed is live', () => listEntry(page, 'pushed'), (e) => e && e.state !== 'live');
    t.diagnostic(`while offline: "${gone.state}"`);
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'page-offline.png') });
    // And back: playback resumes without a reload.
    ffmpeg = publish(t, gateway, 'pushed');
    await until(
      page,
      'playback did not resume after the publisher came back',
      () => sample(page),
      (s) => s.currentTime > gone.currentTime + 2 && !s.paused && !s.stateVisible,
      30_000,
    );
    assert.equal(await page.evaluate(() => window.__loadId), loadId, 'the page was reloaded');
    await assertMovingPicture(page);
    assertNoErrors(page);
  });

  await t.test('the built-in demo is picked and plays with sound, or muted with a button for sound where autoplay is blocked', async (t) => {
    const gateway = await startGateway(t, { demo: true });
    const page = await open(browser, `${gateway.origin}/`);
    t.after(() => page.close());
    await until(page, 'demo is not listed', () => listEntry(page, 'demo'), Boolean);
    await until(page, 'the page did not pick demo', () => sample(page), (s) => s.hash === '#/watch/demo');
    await playing(page, 'the demo did not play');
    await assertMovingPicture(page);
    await assertTone(page);
    assertNoErrors(page);

    // Where sound needs a gesture first: it plays muted and offers sound at a click.
    const blocked = await open(browser, `${gateway.origin}/`, { autoplayPolicy: true });
    t.after(() => blocked.close());
    const muted = await playing(blocked, 'the demo did not play muted');
    assert.equal(muted.muted, true);
    assert.ok(await blocked.isVisible('#unmute'), 'no button for sound');
    await blocked.click('#unmute');
    assert.equal(await blocked.isVisible('#unmute'), false);
    await assertTone(blocked);
    await until(blocked, 'stopped playing after unmuting', () => sample(blocked), (s) => !s.paused && s.currentTime > muted.currentTime + 1);
    assertNoErrors(blocked);
  });

  await t.test('/embed/<name> is a bare player; k pauses and resumes, l goes live; the how-to panel; switching channels; a phone', async (t) => {
    const gateway = await startGateway(t);
    publish(t, gateway, 'cam');
    publish(t, gateway, 'other');
    const api = async (name) => (await (await fetch(`${gateway.origin}/api/channels`)).json()).find((c) => c.name === name);
    for (const name of ['cam', 'other']) await until({ logs: [] }, `${name} is not live`, () => api(name), (c) => c?.state === 'live');

    const embed = await open(browser, `${gateway.origin}/embed/cam`);
    t.after(() => embed.close());
    const { waits: embedWaits } = await playing(embed, 'the embedded player did not play');
    const embedPlaying = Date.now();
    for (const selector of ['header', '.channels', '#howto']) {
      assert.equal(await embed.isVisible(selector), false, `${selector} shows in the embed page`);
    }
    const box = await embed.evaluate(() => {
      const r = document.getElementById('video').getBoundingClientRect();
      return { w: r.width, h: r.height, vw: innerWidth, vh: innerHeight };
    });
    assert.ok(box.w >= box.vw - 1 && box.h >= box.vh - 1, `the player does not fill the frame: ${JSON.stringify(box)}`);
    await assertMovingPicture(embed);
    assertNoErrors(embed);

    const page = await open(browser, `${gateway.origin}/watch/cam`);
    t.after(() => page.close());
    const first = await playing(page, 'the watch page did not play');
    await page.keyboard.press('k');
    const paused = await until(page, 'k did not pause', () => sample(page), (s) => s.paused);
    await sleep(500);
    assert.ok(Math.abs((await sample(page)).currentTime - paused.currentTime) < 0.05, 'time advances while paused');
    await page.keyboard.press('k');
    await until(page, 'k did not resume', () => sample(page), (s) => !s.paused && s.currentTime > paused.currentTime + 0.5);
    assert.ok(paused.currentTime >= first.currentTime);

    // Paused, the tab hidden and shown again: still paused. Then `l` plays at the live edge.
    // Hidden, the page reads the channel list every 10 s, not 2 (the read already planned
    // aside), and at once when shown again. (Headless Chromium shows every page, so the
    // page is told it is hidden.)
    await page.keyboard.press('k');
    await until(page, 'k did not pause', () => sample(page), (s) => s.paused);
    const setHidden = (hidden) =>
      page.evaluate((hidden) => {
        Object.defineProperty(document, 'hidden', { value: hidden, configurable: true });
        Object.defineProperty(document, 'visibilityState', { value: hidden ? 'hidden' : 'visible', configurable: true });
        document.dispatchEvent(new Event('visibilitychange'));
      }, hidden);
    await setHidden(true);
    const hiddenAt = Date.now();
    await sleep(5000);
    const hiddenReads = page.listings.filter((at) => at > hiddenAt).length;
    assert.ok(hiddenReads <= 1, `${hiddenReads} reads of the channel list in 5 s hidden`);
    const shownAt = Date.now();
    await setHidden(false);
    await until(page, 'the list was not read when the page was shown again', async () => page.listings.filter((at) => at > shownAt).length, (n) => n > 0, 1000);
    const behind = await sample(page);
    assert.ok(behind.paused, 'a paused video played when the tab came back');
    assert.ok(behind.ahead > 1.5, `paused long enough to fall behind: ${behind.ahead}`);
    await page.keyboard.press('l');
    await until(page, 'l did not go to the live edge', () => sample(page), (s) => !s.paused && s.ahead < 1, 5000);

    await page.click('#howto summary');
    const urls = await page.evaluate(() =>
      Object.fromEntries(['ws', 'http', 'rtmp', 'embed'].map((k) => [k, document.getElementById(`url-${k}`).textContent])),
    );
    assert.equal(urls.ws, `ws://127.0.0.1:${gateway.http}/live/cam.flv`);
    assert.equal(urls.http, `http://127.0.0.1:${gateway.http}/live/cam.flv`);
    assert.equal(urls.rtmp, `rtmp://127.0.0.1:${gateway.rtmp}/live/cam`);
    assert.match(urls.embed, new RegExp(`/embed/cam"`));
    assert.ok(await page.isVisible('#url-rtmp'), 'the how-to panel does not open');
    assert.equal(await page.isVisible('#url-rtmps'), false, 'an RTMPS address shows where the gateway has none');

    // The embed, playing, read the list every 10 s (the read planned when it started,
    // and one each time its video waited for data, aside): every 2 s, it read it three
    // times or more in this while.
    const embedReads = embed.listings.filter((at) => at > embedPlaying + 1000).length;
    const embedOpen = (Date.now() - embedPlaying) / 1000;
    const waited = (await sample(embed)).waits - embedWaits;
    t.diagnostic(`the embed read the channel list ${embedReads} times in its ${embedOpen.toFixed(1)} s of play (its video waited ${waited} times)`);
    assert.ok(embedOpen > 6.5, `the embed played only ${embedOpen} s`);
    assert.ok(embedReads <= 1 + Math.floor((embedOpen - 1) / 10) + waited, `${embedReads} reads of the channel list in ${embedOpen} s of play`);

    // Another channel from the list: the address, the URLs and the player follow; the first stream is let go.
    await embed.close();
    await page.click('#channel-list a:has(.name:text-is("other"))');
    await until(page, 'the address does not name other', () => page.evaluate(() => location.pathname + location.hash), (u) => u === '/#/watch/other');
    await until(page, 'other is not marked as the current channel', () => listEntry(page, 'other'), (e) => e?.current === 'page');
    assert.equal(await page.textContent('#url-ws'), `ws://127.0.0.1:${gateway.http}/live/other.flv`);
    assert.equal(await page.textContent('#url-rtmp'), `rtmp://127.0.0.1:${gateway.rtmp}/live/other`);
    await until(page, 'cam still has viewers', () => api('cam'), (c) => c.viewers === 0, 5000);
    await until(page, 'other has no viewer', () => api('other'), (c) => c.viewers === 1, 5000);
    const switched = await sample(page);
    await until(page, 'other does not play', () => sample(page), (s) => !s.paused && s.currentTime > switched.currentTime + 1);
    await assertMovingPicture(page);

    // Back, to the /watch/cam the page was opened on, and forward again.
    await page.evaluate(() => history.back());
    await until(page, 'back did not return to cam', () => listEntry(page, 'cam'), (e) => e?.current === 'page');
    await until(page, 'cam has no viewer after going back', () => api('cam'), (c) => c.viewers === 1, 5000);
    await page.evaluate(() => history.forward());
    await until(page, 'forward did not return to other', () => listEntry(page, 'other'), (e) => e?.current === 'page');

    // Quick back and forth: one player is left, on the last pick, with sound.
    for (const [name, ms] of [['cam', 30], ['other', 120], ['cam', 0], ['other', 400], ['cam', 10], ['other', 0]]) {
      await page.evaluate((name) => (location.hash = `#/watch/${name}`), name);
      await sleep(ms);
    }
    await until(page, 'cam still has viewers after the switching', () => api('cam'), (c) => c.viewers === 0, 5000);
    await until(page, 'other has not exactly one viewer after the switching', () => api('other'), (c) => c.viewers === 1, 5000);
    const settled = await sample(page);
    const resumed = await until(page, 'other does not play after the switching', () => sample(page), (s) => !s.paused && s.currentTime > settled.currentTime + 1);
    assert.equal(resumed.muted, false, 'muted by the switching');
    assert.equal((await api('other')).viewers, 1);

    // On a phone: nothing sticks out sideways, every control is inside the player.
    await page.setViewportSize({ width: 390, height: 844 });
    const phone = await page.evaluate(() => {
      const player = document.getElementById('player').getBoundingClientRect();
      const outside = [...document.querySelectorAll('#controls > :not([hidden])')]
        .filter((el) => {
          const r = el.getBoundingClientRect();
          return r.width > 0 && (r.left < player.left - 1 || r.right > player.right + 1);
        })
        .map((el) => el.id);
      return { scrollWidth: document.documentElement.scrollWidth, width: innerWidth, outside };
    });
    assert.ok(phone.scrollWidth <= phone.width, `the page scrolls sideways on a phone: ${JSON.stringify(phone)}`);
    assert.deepEqual(phone.outside, [], 'controls cut off on a phone');
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'page-phone.png'), fullPage: true });
    assertNoErrors(page);
  });

  await t.test('where play tokens are required, a link with its token plays, and the page passes the token on', async (t) => {
    const secret = 'page test secret';
    const gateway = await startGateway(t, { extra: ['--secret', secret] });
    const sign = (...args) =>
      execFileSync(gatewayBin, ['sign', ...args], { env: { ...process.env, FLASHLESS_SECRET: secret }, encoding: 'utf8' })
        .split('\n')
        .find((l) => l.startsWith('rtmp:'))
        .split('token=')[1];
    publish(t, gateway, `signed?token=${sign('--publish', 'signed')}`);
    const token = sign('signed');
    const page = await open(browser, `${gateway.origin}/watch/signed?token=${encodeURIComponent(token)}`);
    t.after(() => page.close());
    await playing(page, 'the signed link did not play', { ms: 25_000 });
    await assertMovingPicture(page);
    const ws = await page.evaluate(() => document.getElementById('url-ws').textContent);
    assert.ok(ws.endsWith(`/live/signed.flv?token=${encodeURIComponent(token)}`), ws);
    assertNoErrors(page);
  });

  await t.test('a link to a channel that does not exist says so, and plays once it is published', async (t) => {
    const gateway = await startGateway(t);
    const page = await open(browser, `${gateway.origin}/watch/later`);
    t.after(() => page.close());
    await until(page, 'no word that the channel is missing', () => sample(page), (s) => s.stateVisible && /not exist|no channel|waiting/i.test(s.state));
    t.diagnostic(`missing channel: "${(await sample(page)).state}"`);
    publish(t, gateway, 'later');
    await playing(page, 'the channel did not play once published', { ms: 25_000 });
    await assertMovingPicture(page);
    assertNoErrors(page);
  });
});

test('over HTTPS the viewer page plays through WSS and names the RTMPS address', { timeout: 90_000 }, async (t) => {
  requireTools('ffmpeg', 'openssl');
  const tls = await selfSigned(t);
  const rtmps = await freePort();
  const extra = ['--tls-cert', tls.cert, '--tls-key', tls.key, '--rtmps', `127.0.0.1:${rtmps}`];
  const gateway = await startGateway(t, { extra });
  const origin = `https://127.0.0.1:${gateway.http}`;
  publish(t, gateway, 'cam');
  const browser = await launchBrowser(t, { ignoreHTTPSErrors: true });
  const page = await open(browser, `${origin}/watch/cam`);
  t.after(() => page.close());
  await playing(page, 'the page over HTTPS did not play', { ms: 25_000 });
  await assertMovingPicture(page);
  await page.click('#howto summary');
  const urls = await page.evaluate(() =>
    Object.fromEntries(['ws', 'http', 'rtmp', 'rtmps'].map((k) => [k, document.getElementById(`url-${k}`).textContent])),
  );
  assert.deepEqual(urls, {
    ws: `wss://127.0.0.1:${gateway.http}/live/cam.flv`,
    http: `https://127.0.0.1:${gateway.http}/live/cam.flv`,
    rtmp: `rtmp://127.0.0.1:${gateway.rtmp}/live/cam`,
    rtmps: `rtmps://127.0.0.1:${rtmps}/live/cam`,
  });
  assert.ok(await page.isVisible('#url-rtmps'), 'the RTMPS address does not show');
  assertNoErrors(page);
});

test('a viewer the operator kicks is told so, and does not come back', { timeout: 60_000 }, async (t) => {
  requireTools('ffmpeg');
  const token = 'an admin token long enough';
  const gateway = await startGateway(t, { extra: ['--admin-token', token] });
  publish(t, gateway, 'cam');
  const browser = await launchBrowser(t);
  const page = await open(browser, `${gateway.origin}/watch/cam`);
  t.after(() => page.close());
  await playing(page, 'the page did not play', { ms: 25_000 });
  const headers = { authorization: `Bearer ${token}` };
  const clients = () => fetch(`${gateway.origin}/api/clients?channel=cam`, { headers }).then((r) => r.json());
  const viewers = (list) => list.filter((c) => c.role === 'viewer');
  const [viewer] = viewers(await clients());
  assert.equal(viewer?.protocol, 'ws-flv', JSON.stringify(await clients()));
  const kicked = await fetch(`${gateway.origin}/api/kick?client=${viewer.id}`, { method: 'POST', headers });
  assert.equal(kicked.status, 200, await kicked.text());
  const told = await until(page, 'the page does not say it was kicked', () => sample(page), (s) => /kicked by the operator/.test(s.state));
  assert.ok(told.stateVisible, `the state is hidden: ${told.state}`);
  // Its player stopped for good: 3 s later it has not connected again.
  await sleep(3000);
  assert.deepEqual(viewers(await clients()), [], 'the kicked page connected again');
});

// Console errors and uncaught errors from here on, kept in the page: WebKitWebDriver
// reports none, and the gateway's page is not the tests' to change.
function hookConsole() {
  window.__logs = window.__logs || [];
  const original = console.error;
  console.error = (...args) => {
    window.__logs.push(`error: ${args.map(String).join(' ')}`);
    original.apply(console, args);
  };
  addEventListener('error', (e) => window.__logs.push(`pageerror: ${e.message}`));
}

for (const engine of ENGINES) {
  test(`[${engine}] the viewer page plays a published channel, picture and sound`, { timeout: 60_000 }, async (t) => {
    const gateway = await startGateway(t);
    publish(t, gateway, 'cam');
    const browser = await launchEngine(t, engine);
    const page = await browser.newPage();
    await page.goto(`${gateway.origin}/watch/cam`);
    await page.evaluate(hookConsole);
    await page.evaluate(installProbe);
    await page.evaluate(sampler);
    const first = await until(page, 'playback did not start', () => sample(page), (s) => s.currentTime > 0.5 && !s.paused && s.width === 320, 20_000);
    await expectIn(t, engine, 'picture', () => assertMovingPicture(page));
    await expectIn(t, engine, 'sound', () => assertTone(page));
    // A wait on a loaded machine may show "Buffering…" for a moment; once time moves on, it goes.
    await until(page, 'time does not advance, or a state shows over the playing video', () => sample(page), (s) => s.currentTime > first.currentTime + 2 && !s.stateVisible);
    assert.deepEqual(await page.errorLogs(), [], `console errors:\n${(await page.logs()).join('\n')}`);
  });
}

// WebKitGTK deadlocked at the start seek (GStreamer, its main thread pushing the seek's
// flush while a `webkitmediasrc` thread waited for the main thread) in 13 of 18
// pages opened the moment their channel went live, its media then beginning a second
// from the element's start (`FIRST_MEDIA_AT` in web/src/player/media.rs). Each start has
// a browser and a gateway of its own, the page opened as the demo starts.
test('[webkit] the viewer page opened the moment its channel goes live plays, four times over', { timeout: 200_000 }, async (t) => {
  for (let i = 1; i <= 4; i++) {
    const browser = await launchEngine(t, 'webkit');
    const gateway = await startGateway(t, { demo: true });
    const page = await browser.newPage();
    await page.goto(`${gateway.origin}/watch/demo`);
    const sample = () =>
      page.evaluate(() => {
        const v = document.getElementById('video');
        return { currentTime: v.currentTime, paused: v.paused, state: document.getElementById('state').textContent };
      });
    try {
      const first = await until(page, 'playback did not start', sample, (s) => !s.paused && s.currentTime > 0, 20_000);
      await until(page, 'time does not advance', sample, (s) => s.currentTime > first.currentTime + 1.5, 10_000);
    } catch (e) {
      // A hung web process answers no more scripts: WebDriver's own timeout says so.
      throw new Error(`start ${i} of 4: ${e.message}`, { cause: e });
    }
    await gateway.stop();
    await browser.close();
  }
});
