// The browser side of `cargo xtask bench page-cpu`: each player's page plays the same
// channel in turn (`runs` rounds, the players alternating), with nothing added to the
// page (no probe: its per-frame canvas read would be counted as the page's own), and
// reports the renderer main thread's script and task time over `seconds` of playback,
// after `warmupSeconds`, as JSON lines:
//   {"kind":"cpu","player":"package","run":0,"seconds":60,"scriptS":…,"taskS":…,"frames":…,
//    "dropped":…,"played":…}
// `frames` and `played` (the `<video>`'s presented frames and the seconds its playhead
// moved over the window) say that the page really played: a page that does nothing
// would spend nothing. The `wsread` page plays nothing; it reports the `bytes` it read.
//
//   node pagecpu.mjs '{"players":["package","mpegts"],"gateway":"http://127.0.0.1:8080",
//                     "stream":"ws://127.0.0.1:8080/live/bench.flv","seconds":60,"runs":3}'
//
// With `"profile": DIR` each measured window is also recorded by Chromium's sampling
// profiler (CDP `Profiler`, 200 µs) into DIR/<player>-<run>.cpuprofile, with the top
// self times by function on stderr: where the page's script time goes.

import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

import { CHROMIUM_ARGS, sleep } from '../../e2e/harness.mjs';
import { benchSite, pageUrl } from './site.mjs';

const { chromium } = createRequire(new URL('../../e2e/package.json', import.meta.url))('playwright-core');

const options = {
  channel: 'bench',
  players: ['package', 'mpegts'],
  seconds: 60,
  warmupSeconds: 5,
  runs: 1,
  profile: null,
  ...JSON.parse(process.argv[2] || '{}'),
};
const FIRST_FRAME_MS = 20_000;

const emit = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

/**
 * The page's `<video>`: frames presented so far and where its playhead is; with
 * WebCodecs, the pictures drawn to its canvas and the clock, from the player's stats;
 * for the page that only reads the stream (`wsread`), the bytes it received.
 */
const playback = (page) =>
  page.evaluate(() => {
    if (window.received) return { frames: 0, dropped: 0, at: 0, bytes: window.received.bytes };
    const s = window.player?.stats?.();
    if (s?.renderer === 'webcodecs') return { frames: s.drawnFrames, dropped: s.droppedFrames, at: s.currentTime || 0 };
    const v = document.querySelector('video');
    const q = v?.getVideoPlaybackQuality();
    return { frames: q?.totalVideoFrames ?? 0, dropped: q?.droppedVideoFrames ?? 0, at: v?.currentTime ?? 0 };
  });

async function metrics(cdp) {
  const { metrics } = await cdp.send('Performance.getMetrics');
  const get = (name) => metrics.find((m) => m.name === name)?.value ?? 0;
  return { script: get('ScriptDuration'), task: get('TaskDuration') };
}

async function measure(browser, site, player, run) {
  const url = pageUrl(site, { ...options, player });
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(url);
    const deadline = Date.now() + FIRST_FRAME_MS;
    const started = (p) => p.frames > 0 || p.bytes > 0;
    while (!started(await playback(page))) {
      if (Date.now() > deadline) throw new Error(`${player}: no frame within ${FIRST_FRAME_MS} ms at ${url} ${errors.join('; ')}`);
      await sleep(100);
    }
    await sleep(options.warmupSeconds * 1000);
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    if (options.profile) {
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
      await cdp.send('Profiler.start');
    }
    const [m0, p0] = [await metrics(cdp), await playback(page)];
    await sleep(options.seconds * 1000);
    const [m1, p1] = [await metrics(cdp), await playback(page)];
    if (options.profile) {
      const { profile } = await cdp.send('Profiler.stop');
      await writeFile(path.join(options.profile, `${player}-${run}.cpuprofile`), JSON.stringify(profile));
      process.stderr.write(`${player} run ${run}: top self time\n${top(profile, 25)}\n`);
    }
    emit({
      kind: 'cpu',
      player,
      run,
      seconds: options.seconds,
      scriptS: m1.script - m0.script,
      taskS: m1.task - m0.task,
      frames: p1.frames - p0.frames,
      dropped: p1.dropped - p0.dropped,
      played: p1.at - p0.at,
      ...(p1.bytes === undefined ? {} : { bytes: p1.bytes - p0.bytes }),
      errors: errors.slice(-5),
    });
  } finally {
    await context.close();
  }
}

/** The functions with the most self time in a CPU profile, one line each. */
function top(profile, n) {
  const self = new Map();
  const dt = profile.timeDeltas;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  profile.samples.forEach((id, i) => {
    const f = byId.get(id).callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) || 0) + (dt[i] || 0));
  });
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, us]) => `  ${(us / 1000).toFixed(1).padStart(8)} ms  ${k}`)
    .join('\n');
}

async function main() {
  const site = await benchSite();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
  });
  try {
    for (let run = 0; run < options.runs; run++) {
      for (const player of options.players) await measure(browser, site, player, run);
    }
  } finally {
    await browser.close();
    await site.close();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e.stack || String(e));
    process.exit(1);
  },
);
