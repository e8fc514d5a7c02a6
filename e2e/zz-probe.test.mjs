import { test } from 'node:test';
import { launchEngine, mangleBin, sleep, start, startGateway, startSite, waitLive } from './harness.mjs';
import { judge, record, recorder } from './playback.mjs';
const CASE = process.env.CASE || 'video-hole-5s';
const WATCH = Number(process.env.WATCH || 30);
for (const engine of (process.env.ENGINES || 'firefox,webkit').split(',')) {
  test(`[${engine}] ${CASE}`, { timeout: (WATCH + 90) * 1000 }, async (t) => {
    const gateway = await startGateway(t);
    const site = await startSite(t, gateway);
    start(t, mangleBin, [CASE, `rtmp://127.0.0.1:${gateway.rtmp}/live/${CASE}`], 'mangle');
    await waitLive(gateway, CASE);
    const browser = await launchEngine(t, engine);
    const page = await browser.newPage();
    await page.goto(`${site.origin}/e2e/player.html?${new URLSearchParams({ url: `ws://127.0.0.1:${gateway.http}/live/${CASE}.flv` })}`);
    await page.evaluate(recorder);
    let rec;
    for (let i = 0; i < 60; i++) { await sleep(500); rec = await record(page); if (rec?.started) break; }
    await sleep(WATCH * 1000 + 500);
    rec = await record(page);
    const j = judge(rec, { from: rec.started, seconds: WATCH, latencyS: 1.5 });
    const s = await page.evaluate(() => window.sample());
    if (process.env.DUMP) { const L = rec.log.filter((r, i) => i % 5 === 0).map((r) => `${((r[0] - rec.started) / 1000).toFixed(1)}:${r[1].toFixed(2)}/${(r[2] - r[1]).toFixed(2)}/${(r[5] - r[1]).toFixed(2)}${r[4] ? 'S' : ''}`); console.log(L.join(' ')); }
    console.log(`[${engine}] ${CASE}: ${j.played}/${j.counted} seek≤${j.maxSeekMs} latency~${j.latencyS} over≤${j.latencyRunMs} ${j.windows} rebuilds=${s.stats.rebuilds} held=${s.stats.picturesHeld} lat=${s.stats.latency?.toFixed(2)} rate=${s.stats.playbackRate} codecs=${s.stats.codecs} errors=${JSON.stringify(s.errors)}`);
  });
}
