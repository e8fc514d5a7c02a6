// The browser side of `cargo xtask bench corpus`: plays one case of the corpus of
// nasty streams, already published to the gateway by the mangler, in four pages at
// once in Debian's Chromium: the gateway's viewer page, the npm package's bare page
// (`flashless.html`), mpegts.js (`mpegts.html`) and flv.js (`flv.html`), all reading
// the gateway's WS-FLV. Each page is judged by `e2e/playback.mjs` over `seconds`
// one-second windows, starting `graceSeconds` after it opened; one JSON line per page:
//   {"player":"mpegts.js","watched":20,"played":18,"jumps":0,…}
//
//   node corpus.mjs '{"gateway":"http://127.0.0.1:8080","channel":"clean","seconds":20}'

import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { createRequire } from 'node:module';

import { CHROMIUM_ARGS, freePort, sleep } from '../../e2e/harness.mjs';
import { judge, record, recorder } from '../../e2e/playback.mjs';

const { chromium } = createRequire(new URL('../../e2e/package.json', import.meta.url))('playwright-core');

const here = fileURLToPath(new URL('.', import.meta.url));
const options = { seconds: 20, graceSeconds: 5, latencyS: 1.5, ...JSON.parse(process.argv[2] || '{}') };

const FILES = {
  '/mpegts.html': ['mpegts.html', 'text/html; charset=utf-8'],
  '/flv.html': ['flv.html', 'text/html; charset=utf-8'],
  '/flashless.html': ['flashless.html', 'text/html; charset=utf-8'],
  '/node_modules/mpegts.js/dist/mpegts.js': ['node_modules/mpegts.js/dist/mpegts.js', 'text/javascript'],
  '/node_modules/flv.js/dist/flv.js': ['node_modules/flv.js/dist/flv.js', 'text/javascript'],
  '/pkg/flashless.js': ['../../pkg/flashless.js', 'text/javascript'],
  '/pkg/flashless_wasm.js': ['../../pkg/flashless_wasm.js', 'text/javascript'],
  '/pkg/flashless_wasm_bg.wasm': ['../../pkg/flashless_wasm_bg.wasm', 'application/wasm'],
};

const server = http.createServer(async (req, res) => {
  const file = FILES[new URL(req.url, 'http://site').pathname];
  if (!file) {
    res.writeHead(404);
    return res.end();
  }
  res.writeHead(200, { 'content-type': file[1], 'cache-control': 'no-store' });
  res.end(await readFile(path.join(here, file[0])));
});
const port = await freePort();
await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
const site = `http://127.0.0.1:${port}`;

const ws = `${options.gateway.replace(/^http/, 'ws')}/live/${options.channel}.flv`;
const query = `?${new URLSearchParams({ url: ws })}`;
const pages = {
  'flashless page': `${options.gateway}/watch/${options.channel}`,
  'flashless package': `${site}/flashless.html${query}`,
  'mpegts.js 1.8.2': `${site}/mpegts.html${query}`,
  'flv.js 1.6.2': `${site}/flv.html${query}`,
};

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
try {
  const opened = await Promise.all(
    Object.entries(pages).map(async ([player, url]) => {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.addInitScript(recorder);
      await page.goto(url);
      const from = await page.evaluate(() => performance.now());
      return { player, page, from: from + options.graceSeconds * 1000 };
    }),
  );
  await sleep((options.graceSeconds + options.seconds + 0.5) * 1000);
  for (const { player, page, from } of opened) {
    const rec = await record(page);
    const j = rec ? judge(rec, { from, seconds: options.seconds, latencyS: options.latencyS }) : { watched: options.seconds, played: 0, jumps: 0 };
    process.stdout.write(`${JSON.stringify({ player, ...j })}\n`);
  }
} finally {
  await browser.close();
  server.closeAllConnections();
  server.close();
}
