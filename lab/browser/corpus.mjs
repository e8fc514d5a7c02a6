// The browser side of `cargo xtask bench corpus`: plays one case of the corpus of
// nasty streams, already published to the gateway by the mangler, in four pages at
// once in Debian's Chromium: the gateway's viewer page, the npm package's bare page
// (`flashless.html`), mpegts.js (`mpegts.html`) and flv.js (`flv.html`), all reading
// the gateway's WS-FLV. Each page is judged by `e2e/playback.mjs` over `seconds`
// one-second windows, starting `graceSeconds` after it opened; one JSON line per page:
//   {"player":"mpegts.js","watched":20,"played":18,"jumps":0,…}
//
//   node corpus.mjs '{"gateway":"http://127.0.0.1:8080","channel":"clean","seconds":20}'

import { createRequire } from 'node:module';

import { CHROMIUM_ARGS, sleep } from '../../e2e/harness.mjs';
import { judge, record, recorder } from '../../e2e/playback.mjs';
import { benchSite, pageUrl } from './site.mjs';

const { chromium } = createRequire(new URL('../../e2e/package.json', import.meta.url))('playwright-core');

const options = { seconds: 20, graceSeconds: 5, latencyS: 1.5, ...JSON.parse(process.argv[2] || '{}') };

const site = await benchSite();
const stream = `${options.gateway.replace(/^http/, 'ws')}/live/${options.channel}.flv`;
const at = (player) => pageUrl(site, { ...options, player, stream });
const pages = {
  'flashless page': at('flashless'),
  'flashless package': at('package'),
  'mpegts.js 1.8.2': at('mpegts'),
  'flv.js 1.6.2': at('flv'),
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
  await site.close();
}
