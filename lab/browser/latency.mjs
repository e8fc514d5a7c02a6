// The browser side of `cargo xtask bench latency` and `bench longrun`: opens one
// player page at a time in Debian's Chromium with `probe.js` added, and reports as
// JSON lines on stdout what the probe measured. The lab starts the server and the
// stamped publisher, runs this script and turns its lines into figures.
//
//   node latency.mjs '{"player":"flashless","gateway":"http://127.0.0.1:8080","seconds":30}'
//   node latency.mjs '{"player":"mpegts","stream":"ws://127.0.0.1:8000/live/bench.flv","seconds":30}'
//
// Players: `flashless` (the gateway's own page), `package` (the npm package in
// `flashless.html`, as bare a page as mpegts.js gets), `mpegts` (`mpegts.html`), `hlsjs`
// (`hlsjs.html`: hls.js in low-latency mode reading the gateway's `/live/<channel>/index.m3u8`).
// `engine`: `chromium` (default), or `firefox` or `webkit` (the browser tests'
// engines, `e2e/engines.mjs`): a fresh browser for each page, no memory figures.
//
// Options: `channel` (default "bench"); `coldStarts` and `sessionSeconds` (fresh
// pages opened before the measured one, each to time its first frame and to play
// a while, default 3 and 10 s); `memoryEvery` (seconds between memory samples of
// the measured page, default 60). Every page has a browser context of its own (a
// new profile in memory: no cache), in one running browser, as a viewer opening a
// link would. Lines:
//   {"kind":"start","marks":{…},"frames":[…]}   a page's steps to its first frame (ms since
//                                                 navigation start); a fresh page's frames
//   {"kind":"frames","frames":[[shown,stamped,n],…]}   Unix ms of each frame the measured page read
//   {"kind":"memory","at":…,"jsHeap":…,"rendererRssKb":…,"scriptS":…,"taskS":…,…}
//   {"kind":"end","unreadable":…,"presented":…,…}

import { readFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';

// playwright-core and the Chromium flags are the browser tests' (e2e's npm lock).
import { CHROMIUM_ARGS, launchEngine, sleep } from '../../e2e/harness.mjs';
import { PROBE as probe, benchSite, pageUrl as sitePageUrl } from './site.mjs';

const { chromium } = createRequire(new URL('../../e2e/package.json', import.meta.url))('playwright-core');

const FIRST_FRAME_MS = 20_000;
const DRAIN_MS = 2000;

const options = {
  channel: 'bench',
  engine: 'chromium',
  coldStarts: 3,
  sessionSeconds: 10,
  memoryEvery: 60,
  ...JSON.parse(process.argv[2] || '{}'),
};

// On the browser's command line, to find its processes in /proc (Chromium ignores it).
const MARKER = `--flashless-bench=${process.pid}`;

const emit = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

const pageUrl = (site) => sitePageUrl(site, options);

/** A page in a fresh context on `url`, once its first frame is on screen. */
async function open(browser, url) {
  const context = await browser.newContext();
  // The probe calls this binding at the first frame. Polling the page instead
  // (`waitForFunction`) evaluates playwright's own script in it, 7–15 ms of the main
  // thread just after the load event: in the middle of the start of a page whose load
  // event comes late (the gateway's), and so counted in its time to first frame only.
  let shown;
  const firstFrame = new Promise((resolve) => {
    shown = resolve;
  });
  await context.exposeBinding('__latencyFirstFrame', () => shown(true));
  await context.addInitScript({ path: probe });
  const page = await context.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(url);
  if (!(await Promise.race([firstFrame, sleep(FIRST_FRAME_MS).then(() => false)]))) {
    await context.close();
    throw new Error(`no frame on screen within ${FIRST_FRAME_MS} ms at ${url}\n${logs.slice(-20).join('\n')}`);
  }
  return { context, page, logs };
}

/** The page's steps, from the probe's marks and the navigation's own timing. */
async function marks(page) {
  return page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    return { responseEnd: Math.round(nav.responseEnd * 10) / 10, ...window.__latency.marks() };
  });
}

/**
 * The measured page's renderer process, by /proc: of the browser's renderers (not
 * the one for its own UI), the one with the most private memory. Its VmRSS and its
 * RssAnon (private, not shared with the browser's other processes), in KiB.
 */
async function rendererMemory() {
  const browserPid = await markedBrowser();
  let best = null;
  for (const pid of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!cmdline.includes('--type=renderer') || cmdline.includes('--top-chrome-webui')) continue;
    if (!browserPid || !(await descendsFrom(pid, browserPid))) continue;
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const kb = (key) => Number(status.match(new RegExp(`^${key}:\\s+(\\d+)`, 'm'))?.[1] || 0);
    const found = { rss: kb('VmRSS'), anon: kb('RssAnon') };
    if (!best || found.anon > best.anon) best = found;
  }
  return best;
}

/** The pid of the browser process started with MARKER. */
async function markedBrowser() {
  for (const pid of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(pid)) continue;
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (argv.includes(MARKER) && !argv.some((a) => a.startsWith('--type='))) return pid;
  }
  return null;
}

async function descendsFrom(pid, ancestor) {
  for (let p = pid, depth = 0; p && p !== '1' && depth < 8; depth++) {
    if (p === ancestor) return true;
    const stat = await readFile(`/proc/${p}/stat`, 'utf8').catch(() => '');
    p = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
  }
  return false;
}

async function memory(page, cdp, started) {
  // After a full collection, so that start and end compare what is kept, not garbage.
  await cdp.send('HeapProfiler.collectGarbage');
  const { metrics } = await cdp.send('Performance.getMetrics');
  const metric = (name) => metrics.find((m) => m.name === name)?.value ?? null;
  const probed = await page.evaluate(() => window.__latency.drain());
  const renderer = await rendererMemory();
  emit({ kind: 'frames', frames: probed.frames });
  emit({
    kind: 'memory',
    at: Math.round((Date.now() - started) / 1000),
    jsHeap: probed.heap,
    cdpJsHeap: metric('JSHeapUsedSize'),
    nodes: metric('Nodes'),
    // Seconds of the renderer's main thread since the page opened: running script,
    // and every task (script, style, layout, paint, garbage collection, media).
    scriptS: metric('ScriptDuration'),
    taskS: metric('TaskDuration'),
    listeners: metric('JSEventListeners'),
    rendererRssKb: renderer?.rss ?? null,
    rendererAnonKb: renderer?.anon ?? null,
    ahead: probed.ahead,
  });
}

async function measure(browser, url) {
  const { context, page, logs } = await open(browser, url);
  const started = Date.now();
  emit({ kind: 'start', measured: true, marks: await marks(page) });
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  await memory(page, cdp, started);
  let nextMemory = started + options.memoryEvery * 1000;
  const end = started + options.seconds * 1000;
  while (Date.now() < end) {
    await sleep(Math.min(DRAIN_MS, end - Date.now()));
    if (Date.now() >= nextMemory) {
      await memory(page, cdp, started);
      nextMemory += options.memoryEvery * 1000;
    } else {
      const probed = await page.evaluate(() => window.__latency.drain());
      emit({ kind: 'frames', frames: probed.frames });
    }
    const stats = await page.evaluate(() => window.player?.stats?.()).catch(() => undefined);
    if (stats) emit({ kind: 'player', at: Math.round((Date.now() - started) / 1000), stats });
  }
  await memory(page, cdp, started);
  const last = await page.evaluate(() => window.__latency.drain());
  const errors = logs.filter((l) => l.startsWith('error') || l.startsWith('pageerror'));
  emit({
    kind: 'end',
    unreadable: last.unreadable,
    callbacks: last.callbacks,
    presented: last.presented,
    seeks: last.seeks,
    waits: last.waits,
    dropped: last.dropped,
    ahead: last.ahead,
    rate: last.rate,
    errors: errors.slice(-5),
  });
  await context.close();
}

/** The same in `options.engine` through the browser tests' engines: a fresh browser per page. */
async function mainInEngine() {
  if (options.player === 'flashless') throw new Error(`the gateway's page cannot take the probe in ${options.engine}: use the package`);
  const site = await benchSite();
  const source = await readFile(probe, 'utf8');
  const openIn = async () => {
    const cleanups = [];
    const browser = await launchEngine({ after: (f) => cleanups.push(f) }, options.engine);
    const close = async () => {
      for (const f of cleanups.reverse()) await f();
    };
    const inPage = options.engine === 'webkit';
    if (!inPage) await browser.addInitScript(source);
    const page = await browser.newPage();
    const url = pageUrl(site) + (inPage ? '&probe' : '');
    await page.goto(url);
    const deadline = Date.now() + FIRST_FRAME_MS;
    while ((await page.evaluate(() => window.__latency?.marks().firstFrame)) === undefined) {
      if (Date.now() > deadline) {
        const logs = await page.logs();
        await close();
        throw new Error(`no frame on screen within ${FIRST_FRAME_MS} ms at ${url}\n${logs.slice(-20).join('\n')}`);
      }
      await sleep(50);
    }
    return { page, close };
  };
  try {
    for (let i = 0; i < options.coldStarts; i++) {
      const { page, close } = await openIn();
      const steps = await marks(page);
      await sleep(options.sessionSeconds * 1000);
      const { frames } = await page.evaluate(() => window.__latency.drain());
      emit({ kind: 'start', marks: steps, frames });
      await close();
    }
    const { page, close } = await openIn();
    emit({ kind: 'start', measured: true, marks: await marks(page) });
    const end = Date.now() + options.seconds * 1000;
    while (Date.now() < end) {
      await sleep(Math.min(DRAIN_MS, end - Date.now()));
      emit({ kind: 'frames', frames: (await page.evaluate(() => window.__latency.drain())).frames });
    }
    const last = await page.evaluate(() => window.__latency.drain());
    emit({ kind: 'frames', frames: last.frames });
    const errors = await page.errorLogs();
    emit({
      kind: 'end',
      unreadable: last.unreadable,
      callbacks: last.callbacks,
      presented: last.presented,
      seeks: last.seeks,
      waits: last.waits,
      dropped: last.dropped,
      ahead: last.ahead,
      rate: last.rate,
      errors: errors.slice(-5),
    });
    await close();
  } finally {
    await site.close();
  }
}

async function main() {
  if (options.engine !== 'chromium') return mainInEngine();
  const site = options.player === 'flashless' ? null : await benchSite();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [...CHROMIUM_ARGS, '--enable-precise-memory-info', MARKER],
  });
  try {
    const url = pageUrl(site);
    for (let i = 0; i < options.coldStarts; i++) {
      // A player's latency can depend on where in the GOP it joined: each fresh
      // page plays a while too.
      const { context, page } = await open(browser, url);
      const steps = await marks(page);
      await sleep(options.sessionSeconds * 1000);
      const { frames } = await page.evaluate(() => window.__latency.drain());
      emit({ kind: 'start', marks: steps, frames });
      await context.close();
    }
    await measure(browser, url);
  } finally {
    await browser.close();
    await site?.close();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e.stack || String(e));
    process.exit(1);
  },
);
