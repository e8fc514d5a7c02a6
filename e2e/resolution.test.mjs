// A resolution change is a new SPS at another H.264 level: a new codec string for the
// same codec. WebKitGTK's SourceBuffer has no `changeType`, and the player once took
// the new string for another codec there, left the video track behind and stalled for
// good at the change (9 of 20 s played); Firefox and Chromium have it (Chromium plays
// the case in the corpus, `corpus.test.mjs`). The package's bare player plays the
// mangler's case through two changes in each of the two engines.
// Needs the gateway (FLASHLESS_BIN) and the mangler (MANGLE_BIN), both built by
// `cargo xtask test`.

import assert from 'node:assert/strict';

import { launchEngine, mangleBin, requireTools, start, startGateway, startSite, test, waitLive } from './harness.mjs';
import { recorder, watch } from './playback.mjs';

for (const engine of ['firefox', 'webkit']) {
  test(`[${engine}] a resolution change (a new SPS, another H.264 level) plays on in the same SourceBuffer`, { timeout: 120_000 }, async (t) => {
    requireTools('ffmpeg');
    const name = 'resolution-change';
    const gateway = await startGateway(t);
    const site = await startSite(t, gateway);
    start(t, mangleBin, [name, `rtmp://127.0.0.1:${gateway.rtmp}/live/${name}`], `mangle ${name}`);
    await waitLive(gateway, name);
    const browser = await launchEngine(t, engine);
    const page = await browser.newPage();
    await page.goto(`${site.origin}/e2e/player.html?${new URLSearchParams({ url: `ws://127.0.0.1:${gateway.http}/live/${name}.flv` })}`);
    // After the page's own scripts (WebKitWebDriver runs none before them): it samples the <video>.
    await page.evaluate(recorder);
    const result = await watch(page, { seconds: 20, latencyS: 1.5 });
    const sizes = await page.evaluate(() => window.events.filter((e) => e.name === 'metadata').map((e) => `${e.detail.width}×${e.detail.height}`));
    t.diagnostic(`${result.started ? `${result.played}/${result.counted} s, ${result.windows}` : 'never started'}; sizes ${sizes.join(' → ')}`);
    assert.ok(new Set(sizes).size > 1, `no resolution change seen: ${sizes}`);
    const errors = await page.evaluate(() => window.events.filter((e) => e.name === 'error').map((e) => e.detail.message));
    assert.deepEqual(errors, []);
    assert.deepEqual(result.reasons, [], `${result.reasons.join(', ')} (${result.windows})`);
  });
}
