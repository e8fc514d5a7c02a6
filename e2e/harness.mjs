// The browser tests' harness: the gateway and ffmpeg on free loopback ports,
// Debian's Chromium through playwright-core with a fresh profile (or any of the
// three engines of `engines.mjs`), all stopped when the test ends, also when it fails.

import { spawn, spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { CHROMIUM_ARGS } from './engines.mjs';

export { CHROMIUM_ARGS, ENGINES, EXPECTED_FAILURES, expectIn, launchEngine, test } from './engines.mjs';

export const root = fileURLToPath(new URL('..', import.meta.url));
const pageDir = fileURLToPath(new URL('./page/', import.meta.url));
export const gatewayBin = process.env.FLASHLESS_BIN || path.join(root, 'target/debug/flashless');
/** The corpus's stream mangler (`lab/src/mangle/`). */
export const mangleBin = process.env.MANGLE_BIN || path.join(root, 'target/debug/mangle');

const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/**
 * Fails naming what is missing: each tool must run (`tool -version`), the gateway
 * binary must exist and Chromium must be where `launchBrowser` looks.
 */
export function requireTools(...tools) {
  const missing = [];
  for (const tool of tools) {
    const r = spawnSync(tool, ['-version'], { stdio: 'ignore' });
    if (r.error) missing.push(`${tool} (${r.error.code})`);
  }
  if (!existsSync(gatewayBin)) missing.push(`the gateway binary ${path.relative(root, gatewayBin)} (cargo build -p flashless-gateway)`);
  const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(chromiumPath)) missing.push(`Chromium at ${chromiumPath}`);
  if (missing.length) throw new Error(`missing: ${missing.join(', ')} (run \`cargo xtask test\` to install them)`);
}

// Ports below the kernel's ephemeral range (32768–60999), where outgoing connections get
// theirs: a gateway restarted on its port must find it free, not taken meanwhile by a
// client's connection. Each port handed out once, from a start drawn per process: test
// files run two at a time (`cargo xtask test`), and pids close together would walk the
// same ports.
const PORTS = { start: 20_000, end: 32_000 };
let nextPort = randomInt(PORTS.end - PORTS.start);

export async function freePort() {
  for (let tries = 0; tries < PORTS.end - PORTS.start; tries++) {
    const port = PORTS.start + (nextPort++ % (PORTS.end - PORTS.start));
    const free = await new Promise((resolve) => {
      const server = net.createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free loopback port');
}

export async function waitForPort(port, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on port ${port} within ${ms} ms`);
    await sleep(50);
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A child process stopped when the test ends; its stderr tail is kept for failure messages. */
export function start(t, cmd, args, name) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => {
    log = (log + d).slice(-4000);
  });
  child.once('error', (e) => {
    log += `\nstarting ${name}: ${e.message} (run \`cargo xtask test\` to install it)`;
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const killed = await Promise.race([exited.then(() => true), sleep(3000).then(() => false)]);
    if (!killed) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  t.after(stop);
  return { child, stop, log: () => `${name}: ${log}` };
}

/**
 * `flashless serve` on free ports (or the given ones), without the demo channel
 * unless `demo` is set; `extra` arguments appended.
 */
export async function startGateway(t, { http: httpPort, rtmp: rtmpPort, extra = [], demo = false } = {}) {
  const http = httpPort ?? (await freePort());
  const rtmp = rtmpPort ?? (await freePort());
  const gw = start(
    t,
    gatewayBin,
    ['serve', '--http', `127.0.0.1:${http}`, '--rtmp', `127.0.0.1:${rtmp}`, ...(demo ? [] : ['--no-demo']), ...extra],
    'flashless',
  );
  await waitForPort(http, 'the gateway (HTTP)');
  await waitForPort(rtmp, 'the gateway (RTMP)');
  return { ...gw, http, rtmp, origin: `http://127.0.0.1:${http}` };
}

/**
 * A self-signed certificate for 127.0.0.1 (openssl), in a directory removed when the
 * test ends: `{ cert, key }`, the files' paths.
 */
export async function selfSigned(t) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'flashless-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2'];
  args.push('-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert);
  const made = spawnSync('openssl', args, { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`openssl req: ${made.stderr || made.error}`);
  return { cert, key };
}

/** Waits until the gateway lists channel `name` live. */
export async function waitLive(gateway, name, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const list = await fetch(`${gateway.origin}/api/channels`).then((r) => r.json()).catch(() => []);
    if (list.some((c) => c.name === name && c.state === 'live')) return;
    if (Date.now() > deadline) throw new Error(`channel ${name} never went live`);
    await sleep(100);
  }
}

/**
 * ffmpeg publishing testsrc and a 1 kHz sine in real time, as `video` (`h264` or `flv`)
 * and `audio` (`aac` or `mp3`) say (or none), a keyframe every `gop` frames.
 */
export function publish(t, gateway, name, { video = 'h264', audio = 'aac', gop = 25, fps = 25 } = {}) {
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re'];
  if (video) args.push('-f', 'lavfi', '-i', `testsrc=size=320x240:rate=${fps}`);
  if (audio) args.push('-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=44100');
  if (video === 'h264') {
    args.push('-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', String(gop), '-pix_fmt', 'yuv420p');
  }
  // Sorenson Spark, Flash Player's camera codec, which no browser decodes.
  if (video === 'flv') args.push('-c:v', 'flv', '-g', String(gop), '-b:v', '500k');
  if (audio === 'aac') args.push('-c:a', 'aac', '-b:a', '64k');
  if (audio === 'mp3') args.push('-c:a', 'libmp3lame', '-b:a', '64k');
  args.push('-f', 'flv', `rtmp://127.0.0.1:${gateway.rtmp}/live/${name}`);
  return start(t, 'ffmpeg', args, 'ffmpeg');
}

const NGINX_RTMP_MODULES = ['/usr/lib/nginx/modules/ngx_rtmp_module.so', '/usr/share/nginx/modules/ngx_rtmp_module.so'];

/**
 * nginx with the RTMP module and one `live` application on a free port (as
 * `flashless_lab::peers` starts it); `{ rtmp }` so `publish` can push to it.
 */
export async function startNginx(t) {
  const module = NGINX_RTMP_MODULES.find((p) => existsSync(p));
  if (!module) throw new Error(`nginx's RTMP module (Debian package libnginx-mod-rtmp) not found in ${NGINX_RTMP_MODULES}`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'flashless-nginx-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const port = await freePort();
  const conf = [
    `load_module ${module};`,
    'daemon off;',
    'master_process off;',
    'worker_processes 1;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log info;`,
    'events { worker_connections 256; }',
    `rtmp { server { listen 127.0.0.1:${port}; chunk_size 4096;`,
    '  application live { live on; record off; } } }',
    '',
  ].join('\n');
  await writeFile(path.join(dir, 'nginx.conf'), conf);
  const nginx = start(t, 'nginx', ['-e', path.join(dir, 'error.log'), '-p', dir, '-c', path.join(dir, 'nginx.conf')], 'nginx');
  await waitForPort(port, 'nginx').catch((e) => {
    throw new Error(`${e.message}\n${nginx.log()}`);
  });
  return { ...nginx, rtmp: port };
}

/**
 * Chromium with a fresh profile, closed (and the profile removed) when the test ends;
 * `options` for its context (`ignoreHTTPSErrors` for a test's own certificate).
 */
export async function launchBrowser(t, options = {}) {
  const profile = await mkdtemp(path.join(os.tmpdir(), 'flashless-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    ...options,
  });
  t.after(async () => {
    await context.close().catch(() => {});
    await rm(profile, { recursive: true, force: true });
  });
  return context;
}

/**
 * The test site, on a loopback port of its own as a real server would be:
 * `/e2e/…` from `e2e/page/`, `/app/…` from `appDir` when given, everything else
 * (the package under `/pkg/`, `/live/…` over HTTP) passed through to the gateway.
 * WebSocket URLs go to the gateway directly.
 */
export async function startSite(t, gateway, { appDir, clipsDir } = {}) {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://site');
    if (clipsDir && url.pathname.startsWith('/clips/')) {
      return streamPaced(res, path.join(clipsDir, path.basename(url.pathname)));
    }
    for (const [prefix, dir] of [['/e2e/', pageDir], ['/app/', appDir]]) {
      if (!dir || !url.pathname.startsWith(prefix)) continue;
      const file = path.join(dir, decodeURIComponent(url.pathname.slice(prefix.length)));
      try {
        if (!file.startsWith(dir)) throw new Error('outside');
        const body = await readFile(file);
        res.writeHead(200, { 'content-type': contentType(file), 'cache-control': 'no-store' });
        return res.end(body);
      } catch {
        res.writeHead(404);
        return res.end();
      }
    }
    const upstream = http.request(
      { host: '127.0.0.1', port: gateway.http, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return { origin: `http://127.0.0.1:${port}` };
}

/**
 * An FLV file sent as HTTP-FLV at the pace of its timestamps, like a live
 * stream (`ffmpeg -re`): the header at once, then each tag when it is due.
 */
async function streamPaced(res, file) {
  let flv;
  try {
    flv = await readFile(file);
  } catch {
    res.writeHead(404);
    return res.end();
  }
  res.writeHead(200, { 'content-type': 'video/x-flv', 'cache-control': 'no-store' });
  let closed = false;
  res.on('close', () => {
    closed = true;
  });
  const headerEnd = flv.readUInt32BE(5) + 4;
  res.write(flv.subarray(0, headerEnd));
  const started = Date.now();
  for (let at = headerEnd; at + 11 <= flv.length && !closed; ) {
    const size = flv.readUIntBE(at + 1, 3);
    const ms = flv.readUIntBE(at + 4, 3) | (flv[at + 7] << 24);
    const end = at + 11 + size + 4;
    const wait = started + ms - Date.now();
    if (wait > 0) await sleep(wait);
    res.write(flv.subarray(at, end));
    at = end;
  }
  res.end();
}

/**
 * Opens `pagePath` on the site with `query` and waits for the player to start (or fail),
 * in `browser`: Chromium's playwright context from `launchBrowser`, or any engine's
 * browser from `launchEngine`.
 */
export async function openPage(browser, site, query, { pagePath = '/e2e/player.html' } = {}) {
  const url = `${site.origin}${pagePath}?${new URLSearchParams(query)}`;
  if (browser.engine) return openEnginePage(browser, url);
  const page = await browser.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(url);
  page.logs = logs;
  await page.waitForFunction(() => window.ready || window.failure, null, { timeout: 15_000 });
  const failure = await page.evaluate(() => window.failure);
  if (failure) throw new Error(`the page could not start the player: ${failure}\n${logs.join('\n')}`);
  return page;
}

async function openEnginePage(browser, url) {
  const page = await browser.newPage();
  await page.goto(url);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const state = await page.evaluate(() => ({ ready: Boolean(window.ready), failure: window.failure }));
    if (state.failure) throw new Error(`the page could not start the player: ${state.failure}\n${(await page.logs()).join('\n')}`);
    if (state.ready) return page;
    if (Date.now() > deadline) throw new Error(`the player did not start within 15 s\n${(await page.logs()).join('\n')}`);
    await sleep(100);
  }
}

function contentType(file) {
  if (file.endsWith('.html')) return 'text/html; charset=utf-8';
  if (file.endsWith('.js') || file.endsWith('.mjs')) return 'text/javascript; charset=utf-8';
  if (file.endsWith('.wasm')) return 'application/wasm';
  if (file.endsWith('.json')) return 'application/json';
  return 'application/octet-stream';
}

/** How long past a poll's time its last read may go unanswered (a page's busy thread) before it fails. */
const READ_GRACE_MS = 10_000;

/**
 * Reads `read()` until `done(value)` holds, or fails naming `what`, with the last value, a
 * line a second of how the values went (`brief` of each) and the last lines of `logs()`;
 * also where a read does not answer within the time left and READ_GRACE_MS: Firefox's
 * WebCodecs pages have been seen stuck from their start in full runs, no read answered,
 * which ended the test at its own timeout, naming nothing.
 */
export async function poll(what, read, done, { ms = 15_000, brief = (v) => v, logs = async () => [] } = {}) {
  const began = Date.now();
  const trail = [];
  let last;
  const fail = async (why) => {
    const lines = trail.map((s) => JSON.stringify(s));
    const logged = await Promise.race([logs(), sleep(2000).then(() => ["(the page's log did not answer either)"])]);
    return new Error(`${what} within ${ms} ms: ${why}\nhow it went:\n${lines.join('\n')}\n${logged.slice(-40).join('\n')}`);
  };
  for (;;) {
    let timer;
    const hung = Symbol('hung');
    const late = new Promise((resolve) => {
      timer = setTimeout(resolve, Math.max(0, ms - (Date.now() - began)) + READ_GRACE_MS, hung);
    });
    const value = await Promise.race([read(), late]).finally(() => clearTimeout(timer));
    if (value === hung) throw await fail(`a read of the page did not answer in ${Date.now() - began} ms; last: ${JSON.stringify(last)}`);
    last = value;
    if (done(last)) return last;
    const at = Date.now() - began;
    if (!trail.length || at - trail.at(-1).at >= 1000) trail.push({ at, ...brief(last) });
    if (at > ms) throw await fail(`last: ${JSON.stringify(last)}`);
    await sleep(200);
  }
}

/** A page's console log: a Chromium page keeps it as an array, a WebDriver engine's page reads it. */
export async function pageLogs(page) {
  return (typeof page.logs === 'function' ? await page.logs() : page.logs) ?? [];
}

/**
 * Polls `sample()` in the page until `done(sample)` holds, or fails with the last sample
 * and, a line a second, how the playhead, the buffer and the player's counters went.
 */
export function until(page, what, done, ms = 15_000) {
  return poll(what, () => page.evaluate(() => window.sample()), done, { ms, brief, logs: () => pageLogs(page) });
}

/** What a failure's trail shows of a sample. */
function brief(sample) {
  const s = sample ?? {};
  const st = s.stats ?? {};
  const round = (x) => (typeof x === 'number' ? Math.round(x * 1000) / 1000 : x);
  return {
    t: round(s.currentTime),
    buffered: [round(s.bufferedStart), round(s.bufferedEnd)],
    rs: s.readyState,
    frames: s.frames,
    decoded: s.decoded,
    bytes: st.bytes,
    latency: round(st.latency),
    stuckMs: st.stuckMs,
    rate: st.playbackRate,
    seeks: [st.jumps, st.stalls, st.gaps, st.recoveries],
    events: s.events?.length,
  };
}
