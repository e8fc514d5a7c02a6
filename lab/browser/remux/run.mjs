// Drives the remux benchmark's page in Debian's Chromium (`cargo xtask bench remux`
// starts it and reads what it prints):
//
//   node lab/browser/remux/run.mjs [--runs N] [--chunk BYTES] [--only REMUXER,…] [--profile DIR]
//                                [--out FILE] NAME=FILE.flv...
//
// Serves the page, the npm package `flashless` (pkg/) and the peers' sources bundled by
// esbuild from a loopback port; loads each recording into the page once and runs every
// remuxer over it `--runs` times, alternating, after one untimed warm-up each. One JSON
// object a line, to `--out` or stdout: `{"kind":"browser",…}`, then `{"kind":"run",…}`
// per run.
//
// `--profile DIR`: after the timed runs, one more run of each remuxer under Chromium's
// sampling profiler, saved as DIR/<recording>-<remuxer>.cpuprofile (DevTools opens it)
// and summed up on stderr. `FLASHLESS_PKG=dir` serves the package from `dir`, e.g. one
// whose wasm kept its function names (`wasm-opt -g`).

import { appendFileSync, createReadStream } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { createRequire } from 'node:module';

import { build } from 'esbuild';

// playwright-core and the Chromium flags are the browser tests' (e2e's npm lock).
import { CHROMIUM_ARGS } from '../../../e2e/harness.mjs';

const { chromium } = createRequire(new URL('../../../e2e/package.json', import.meta.url))('playwright-core');

const here = fileURLToPath(new URL('.', import.meta.url));
const root = path.resolve(here, '../../..');
const pkgDir = path.resolve(process.env.FLASHLESS_PKG || path.join(root, 'pkg'));

// So the page can collect garbage between runs, and no run pays for another's.
const CHROMIUM_FLAGS = [...CHROMIUM_ARGS, '--js-flags=--expose-gc'];
/** The warm-up run's share of a recording: enough for the JITs to settle. */
const WARMUP_CHUNKS = 64;

function parseArgs(argv) {
  const args = { runs: 5, chunk: 64 * 1024, profile: null, out: null, only: null, recordings: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--runs' || arg === '--chunk') {
      const value = Number(argv[++i]);
      if (!Number.isInteger(value) || value <= 0) throw new Error(`${arg} takes a positive count`);
      args[arg.slice(2)] = value;
    } else if (arg === '--only') {
      args.only = (argv[++i] ?? '').split(',');
    } else if (arg === '--profile' || arg === '--out') {
      if (argv[i + 1] === undefined) throw new Error(`${arg} takes a path`);
      args[arg.slice(2)] = path.resolve(argv[++i]);
    } else if (arg.includes('=') && !arg.startsWith('-')) {
      const [name, file] = arg.split(/=(.*)/s);
      args.recordings.push({ name, file: path.resolve(file) });
    } else {
      throw new Error(`unknown argument ${arg}`);
    }
  }
  if (!args.recordings.length) throw new Error('no recording given (NAME=FILE.flv)');
  return args;
}

let print = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

async function peersBundle() {
  const result = await build({
    entryPoints: [path.join(here, 'peers.mjs')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    write: false,
    logLevel: 'error',
  });
  return result.outputFiles[0].contents;
}

async function serve(recordings, peers) {
  const files = new Map(recordings.map((r) => [`/rec/${r.name}.flv`, r.file]));
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://bench');
    const send = (type, body) => {
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    try {
      if (url.pathname === '/') return send('text/html; charset=utf-8', await readFile(path.join(here, 'page.html')));
      if (url.pathname === '/page.mjs') return send('text/javascript', await readFile(path.join(here, 'page.mjs')));
      if (url.pathname === '/peers.js') return send('text/javascript', peers);
      if (url.pathname.startsWith('/pkg/')) {
        const file = path.join(pkgDir, path.basename(url.pathname));
        const type = file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript';
        return send(type, await readFile(file));
      }
      const recording = files.get(url.pathname);
      if (recording) {
        const { size } = await stat(recording);
        res.writeHead(200, { 'content-type': 'video/x-flv', 'content-length': size });
        return createReadStream(recording).pipe(res);
      }
    } catch (e) {
      res.writeHead(500);
      return res.end(String(e));
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/** One run under the sampling profiler: the profile saved, its heaviest functions on stderr. */
async function profile(page, dir, file, remuxer) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
  await cdp.send('Profiler.start');
  await page.evaluate((n) => window.bench.run(n), remuxer);
  const { profile: p } = await cdp.send('Profiler.stop');
  await cdp.detach();
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, `${file}-${remuxer}.cpuprofile`), JSON.stringify(p));
  const self = new Map();
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  let total = 0;
  p.samples.forEach((id, i) => {
    const { functionName, url, lineNumber } = byId.get(id).callFrame;
    const key = `${functionName || '(anonymous)'} ${path.basename(url || '')}:${lineNumber + 1}`;
    const dt = p.timeDeltas[i] ?? 0;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 25);
  process.stderr.write(`profile of ${remuxer} on ${file}: ${(total / 1000).toFixed(1)} ms sampled\n`);
  for (const [key, us] of top) {
    process.stderr.write(`  ${((100 * us) / total).toFixed(1).padStart(5)} %  ${key}\n`);
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.out) {
    await writeFile(args.out, '');
    print = (obj) => appendFileSync(args.out, `${JSON.stringify(obj)}\n`);
  }
  const server = await serve(args.recordings, await peersBundle());
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_FLAGS,
  });
  try {
    print({ kind: 'browser', version: browser.version() });
    const page = await browser.newPage();
    const logs = [];
    // The peers log each configuration they parse at info level: only warnings and errors matter.
    page.on('console', (m) => {
      if (m.type() === 'warning' || m.type() === 'error') logs.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    await page.waitForFunction(() => window.ready || window.failure, null, { timeout: 30_000 });
    const failure = await page.evaluate(() => window.failure);
    if (failure) throw new Error(`the page could not load the remuxers: ${failure}\n${logs.join('\n')}`);
    const names = (await page.evaluate(() => window.bench.names)).filter((n) => !args.only || args.only.includes(n));
    for (const { name: file } of args.recordings) {
      const loaded = await page.evaluate(([url, chunk]) => window.bench.load(url, chunk), [`/rec/${file}.flv`, args.chunk]);
      print({ kind: 'recording', file, ...loaded });
      for (const remuxer of names) {
        await page.evaluate(([n, limit]) => window.bench.run(n, limit), [remuxer, WARMUP_CHUNKS]);
      }
      // Alternating remuxers spreads whatever else the machine does over all of them.
      for (let run = 1; run <= args.runs; run++) {
        for (const remuxer of names) {
          const result = await page.evaluate((n) => window.bench.run(n), remuxer);
          print({ kind: 'run', file, remuxer, run, ...result });
        }
      }
      if (args.profile) {
        for (const remuxer of names) await profile(page, args.profile, file, remuxer);
      }
    }
    if (logs.length) process.stderr.write(`${logs.join('\n')}\n`);
  } finally {
    await browser.close();
    server.closeAllConnections();
    server.close();
  }
}

main().catch((e) => {
  process.stderr.write(`${e.stack ?? e}\n`);
  process.exit(1);
});
