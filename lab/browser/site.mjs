// The benchmark pages and their players' files, served on a loopback port of their own
// (`cache-control: no-store`, so every fresh browser context loads them as a first
// visit would), and the URL of each player's page for a stream.

import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { freePort } from '../../e2e/harness.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));

/** The probe the latency benchmark adds to a page (`?probe` puts it in the page itself). */
export const PROBE = path.join(here, 'probe.js');

const FILES = {
  '/mpegts.html': ['mpegts.html', 'text/html; charset=utf-8'],
  '/flv.html': ['flv.html', 'text/html; charset=utf-8'],
  '/hlsjs.html': ['hlsjs.html', 'text/html; charset=utf-8'],
  '/flashless.html': ['flashless.html', 'text/html; charset=utf-8'],
  '/webcodecs.html': ['webcodecs.html', 'text/html; charset=utf-8'],
  '/wsread.html': ['wsread.html', 'text/html; charset=utf-8'],
  '/probe.js': ['probe.js', 'text/javascript'],
  '/node_modules/mpegts.js/dist/mpegts.js': ['node_modules/mpegts.js/dist/mpegts.js', 'text/javascript'],
  '/node_modules/flv.js/dist/flv.js': ['node_modules/flv.js/dist/flv.js', 'text/javascript'],
  // hls.js as the browser tests pin it (e2e's npm lock).
  '/hls.js/hls.min.js': ['../../e2e/node_modules/hls.js/dist/hls.min.js', 'text/javascript'],
  // The npm package as `cargo xtask wasm` built it (the gateway embeds the same files).
  '/pkg/flashless.js': ['../../pkg/flashless.js', 'text/javascript'],
  '/pkg/flashless_wasm.js': ['../../pkg/flashless_wasm.js', 'text/javascript'],
  '/pkg/webcodecs.js': ['../../pkg/webcodecs.js', 'text/javascript'],
  '/pkg/nativehls.js': ['../../pkg/nativehls.js', 'text/javascript'],
  '/pkg/flashless_wasm_bg.wasm': ['../../pkg/flashless_wasm_bg.wasm', 'application/wasm'],
};

/** Starts the site; `close()` stops it. */
export async function benchSite() {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://site');
    const file = FILES[url.pathname];
    if (!file) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { 'content-type': file[1], 'cache-control': 'no-store' });
    let body = await readFile(path.join(here, file[0]));
    // A driver that cannot add a script before the page's own (WebKitWebDriver):
    // the site puts the probe first in the page instead.
    if (url.searchParams.has('probe')) body = String(body).replace('<head>', '<head><script src="/probe.js"></script>');
    res.end(body);
  });
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * The page of `player` playing `stream` (a WS-FLV URL) from `gateway` (its HTTP
 * origin) on `channel`: `flashless` is the gateway's own page, the others are the
 * site's (`site` may be null for the gateway's page alone).
 */
export function pageUrl(site, { player, gateway, stream, channel }) {
  const query = (url) => `?${new URLSearchParams({ url })}`;
  switch (player) {
    case 'flashless':
      return `${gateway}/watch/${encodeURIComponent(channel)}`;
    case 'mpegts':
      return `${site.origin}/mpegts.html${query(stream)}`;
    case 'flv':
      return `${site.origin}/flv.html${query(stream)}`;
    case 'package':
      return `${site.origin}/flashless.html${query(stream)}`;
    case 'webcodecs':
      return `${site.origin}/webcodecs.html${query(stream)}`;
    case 'wsread':
      return `${site.origin}/wsread.html${query(stream)}`;
    case 'hlsjs':
      return `${site.origin}/hlsjs.html${query(`${gateway}/live/${encodeURIComponent(channel)}/index.m3u8`)}`;
    default:
      throw new Error(`unknown player ${JSON.stringify(player)} (flashless, package, webcodecs, wsread, mpegts, flv, hlsjs)`);
  }
}
