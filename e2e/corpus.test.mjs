// The corpus of nasty streams (issue #13): each case is ffmpeg's live test pattern
// rewritten by the mangler (`lab/src/mangle/`, binary `mangle`) and published to the
// gateway over RTMP. For each, the viewer page (`/watch/<case>`) and the npm
// package's bare player (`page/player.html`) and the package with WebCodecs
// (`page/webcodecs.html`, as `renderer: 'auto'` picks in Chromium) play side by side
// in Chromium for WATCH_S seconds from their first frame, and must:
// - lose at most 10 % of the seconds to stalls (a second in which currentTime advances
//   less than 0.8 s loses what it fell short by: a half-second stall across the border
//   of two seconds loses half a second, not two; a discontinuity jump is left out of the
//   count; where the source itself stalls, see STALL_S),
// - never have a seek pending for more than 1 s,
// - never stay over their latency bound (buffered end − currentTime; the page's own
//   "behind" mark, 1.5 s, plus a frame for 1 fps) for more than 3 s,
// - play audio, when the case has an audio track: an audio SourceBuffer (or WebCodecs'
//   sound) whose media goes on (a player that joins during an audio hole must not go
//   video-only),
// - with WebCodecs, draw a new picture at least every 1.5 s (more where the case has
//   fewer pictures: STILL_MS), and never put the clock back more than 0.2 s (BACK_S).
// CORPUS_CONCURRENCY cases play at once (default 2: 286 s for the 27 cases; three at once
// took 205 s, but in one full run of three `stall-2s-burst`'s page stuck at a later stall
// and `resolution-change`'s WebCodecs clock went back 0.28 s); CORPUS_CASES=a,b picks cases;
// CORPUS_RECORD_DIR=dir keeps each page's record there (`<case>-<player>.json`) and its
// console (`<case>-<player>.log`).
// Needs the gateway (FLASHLESS_BIN) and the mangler (MANGLE_BIN), both built by
// `cargo xtask test`.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { launchBrowser, mangleBin, requireTools, start, startGateway, startSite, waitLive } from './harness.mjs';
import { recorder, watch } from './playback.mjs';

const WATCH_S = 20;
const START_LIMIT_MS = 25_000;
const LATENCY_S = 1.5;
const CONCURRENCY = Number(process.env.CORPUS_CONCURRENCY || 2);
/** The cases without an audio track. */
const NO_AUDIO = new Set(['video-only']);
/** The longest a WebCodecs page may show one picture (ms), where the case has gaps between pictures. */
// A hole's length plus the 1.5 s any case may go without a new picture: the picture after a
// 5 s hole came 5.6 s after the last one in a full run with two cases on two cores (4.8 s alone).
const STILL_MS = { 'fps-1': 2500, 'video-hole-1s': 2500, 'video-hole-5s': 6500, 'stall-2s-burst': 3500 };
/**
 * Cases whose source itself sends nothing for a while (s, every 10 s), then all it held:
 * a player stands still for as long (at most 35 % of the seconds lost, not 10 %),
 * and after it has the backlog to play, so it may be as much further behind. A player
 * that never came back, or fell further behind at each stall, still fails; and the MSE
 * pages, whose target then covers such a gap, must ride out the stalls after the first
 * (at most one stuck second after the first STALL_WINDOWS; the second stall cost two or
 * three before).
 */
const STALL_S = { 'stall-2s-burst': 2 };
const STALL_WINDOWS = 6;
/**
 * The most a WebCodecs clock may go back (s): where its sound starts, from the wall clock,
 * which runs up to a picture's interval past the newest media; where the sound lags its
 * pictures, once, by up to that lag (the sound is skipped as behind for half a second,
 * then played: `#behind` in pkg/webcodecs.js).
 */
const BACK_S = { 'fps-1': 1.2, 'audio-lags-300ms': 0.35 };

/** The mangler's cases: `[name, what]`. */
function cases() {
  const out = spawnSync(mangleBin, ['--list'], { encoding: 'utf8' });
  if (out.error || out.status !== 0) {
    throw new Error(`${mangleBin} --list failed (cargo build -p flashless-lab --bin mangle): ${out.error ?? out.stderr}`);
  }
  const all = out.stdout.trim().split('\n').map((l) => l.split('\t'));
  const picked = process.env.CORPUS_CASES?.split(',');
  return picked ? all.filter(([n]) => picked.includes(n)) : all;
}

/** Opens `url` with the recorder; resolves with the page once it plays (or at the limit). */
async function openRecorded(browser, url) {
  const page = await browser.newPage();
  page.logs = [];
  page.on('console', (m) => page.logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => page.logs.push(`pageerror: ${e.message}`));
  await page.addInitScript(recorder);
  await page.goto(url);
  return page;
}

const summary = [];

test('the corpus of nasty streams plays in the page, the bare player and WebCodecs', { timeout: 900_000, concurrency: CONCURRENCY }, async (t) => {
  requireTools('ffmpeg');
  assert.ok(existsSync(mangleBin), `the mangler ${mangleBin} (cargo build -p flashless-lab --bin mangle)`);
  const list = cases();
  const gateway = await startGateway(t);
  const site = await startSite(t, gateway);
  const browser = await launchBrowser(t);
  const started = Date.now();
  await Promise.all(
    list.map(([name, what]) =>
      t.test(`${name}: ${what}`, { timeout: 120_000 }, async (t) => {
        const mangle = start(t, mangleBin, [name, `rtmp://127.0.0.1:${gateway.rtmp}/live/${name}`], `mangle ${name}`);
        await waitLive(gateway, name).catch((e) => {
          throw new Error(`${e.message}\n${mangle.log()}`);
        });
        const url = new URLSearchParams({ url: `ws://127.0.0.1:${gateway.http}/live/${name}.flv` });
        const pages = {
          page: await openRecorded(browser, `${gateway.origin}/watch/${name}`),
          bare: await openRecorded(browser, `${site.origin}/e2e/player.html?${url}`),
          webcodecs: await openRecorded(browser, `${site.origin}/e2e/webcodecs.html?${url}`),
        };
        t.after(() => Promise.all(Object.values(pages).map((p) => p.close().catch(() => {}))));
        const latencyS = LATENCY_S + (name === 'fps-1' ? 1 : 0) + (STALL_S[name] ?? 0);
        const playedShare = name in STALL_S ? 0.65 : 0.9;
        const results = await Promise.all(
          Object.values(pages).map((p) =>
            watch(p, { seconds: WATCH_S, latencyS, playedShare, audio: !NO_AUDIO.has(name), stillMs: STILL_MS[name], backS: BACK_S[name], startLimitMs: START_LIMIT_MS }),
          ),
        );
        const failures = [];
        Object.keys(pages).forEach((player, i) => {
          const { rec, ...r } = results[i];
          const dir = process.env.CORPUS_RECORD_DIR;
          if (dir && rec) {
            mkdirSync(dir, { recursive: true });
            writeFileSync(path.join(dir, `${name}-${player}.json`), JSON.stringify(rec));
            writeFileSync(path.join(dir, `${name}-${player}.log`), pages[player].logs.join('\n'));
          }
          const laterStuck = r.windows?.slice(STALL_WINDOWS).split('s').length - 1;
          if (name in STALL_S && player !== 'webcodecs' && laterStuck > 1) {
            r.reasons.push(`stuck ${laterStuck} s at the later stalls`);
          }
          summary.push({ name, player, ...r });
          t.diagnostic(`${player}: ${JSON.stringify(r)}`);
          if (r.reasons.length) failures.push(`${player}: ${r.reasons.join(', ')} (${r.windows ?? ''})\n  ${pages[player].logs.slice(-8).join('\n  ')}`);
        });
        assert.deepEqual(failures, [], failures.join('\n'));
      }),
    ),
  );
  t.diagnostic(`corpus wall time ${((Date.now() - started) / 1000).toFixed(0)} s`);
  for (const r of summary) {
    const figures = r.started ? `${r.played}/${r.counted} s (${r.lostS} s lost), seek ≤ ${r.maxSeekMs} ms,${r.stillMs === null ? '' : ` still ≤ ${r.stillMs} ms,`} over latency ≤ ${r.latencyRunMs} ms, latency ~${r.latencyS} s, audio +${r.audioS} s, ${r.windows}` : 'never started';
    t.diagnostic(`${r.reasons.length ? 'FAIL' : 'ok  '} ${r.name} ${r.player}: ${figures}`);
  }
});
