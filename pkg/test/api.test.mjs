// The package's JS surface in Node: `Remuxer` by the package's own name, script
// data from the remuxer, and what `Player` throws (`node --test pkg/test/`).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { init, PlayerError, Remuxer, resolveUrl } from '../flashless.js';

const pkg = fileURLToPath(new URL('..', import.meta.url));
const flv = await readFile(new URL('../../testdata/h264_aac.flv', import.meta.url));
await init();

test('Node imports Remuxer by the package name', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'flashless-node-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(path.join(dir, 'node_modules'));
  await symlink(pkg, path.join(dir, 'node_modules/flashless'), 'dir');
  await writeFile(
    path.join(dir, 'main.mjs'),
    "import { init, Remuxer } from 'flashless';\nawait init();\nconsole.log(new Remuxer().push(new Uint8Array(0)).length);\n",
  );
  assert.equal(execFileSync('node', ['main.mjs'], { cwd: dir, encoding: 'utf8' }).trim(), '0');
});

test('every script-data tag comes out as scriptdata, with its AMF values', () => {
  const remuxer = new Remuxer();
  const scripts = [...remuxer.push(flv), ...remuxer.flush()].filter((e) => e.type === 'scriptdata');
  assert.equal(scripts.length, 1);
  const [name, meta] = scripts[0].values;
  assert.equal(name, 'onMetaData');
  assert.equal(typeof meta.duration, 'number');
  assert.equal(scripts[0].timestamp, 0);
  remuxer.free();
});

test('resolveUrl keeps absolute stream URLs, sets the scheme for a transport, and refuses others with a code', () => {
  assert.equal(resolveUrl('ws://h:8080/live/a.flv'), 'ws://h:8080/live/a.flv');
  assert.equal(resolveUrl('https://h/live/a.flv', 'websocket'), 'wss://h/live/a.flv');
  assert.equal(resolveUrl('ws://h/live/a.flv', 'http'), 'http://h/live/a.flv');
  for (const [url, code] of [
    [undefined, 'no-url'],
    ['rtmp://h/live/a', 'invalid-url'],
    // No page to resolve against in Node.
    ['/live/a.flv', 'invalid-url'],
  ]) {
    assert.throws(
      () => resolveUrl(url),
      (e) => e instanceof PlayerError && e instanceof Error && e.code === code,
    );
  }
});
