// The Remuxer binding of the built package, in Node (run by `cargo xtask test`
// after `cargo xtask wasm`): `node --test pkg/test/`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';

import { init, Remuxer } from '../flashless.js';

const flv = await readFile(new URL('../../testdata/h264_aac.flv', import.meta.url));
await init();

function byType(events) {
  const groups = {};
  for (const e of events) (groups[e.type] ??= []).push(e);
  return groups;
}

test('h264_aac.flv gives avc1 and mp4a.40.2 init segments, then fragments of both tracks', () => {
  const remuxer = new Remuxer();
  const events = [...remuxer.push(flv), ...remuxer.flush()];
  const { header, init: inits, fragment, metadata, error } = byType(events);
  assert.equal(error, undefined, JSON.stringify(error));
  assert.deepEqual(header, [{ type: 'header', hasAudio: true, hasVideo: true }]);
  assert.equal(metadata.length, 1);
  assert.equal(typeof metadata[0].value, 'object');

  const video = inits.find((e) => e.track === 'video');
  const audio = inits.find((e) => e.track === 'audio');
  assert.match(video.codec, /^avc1\.[0-9a-f]{6}$/);
  assert.equal(video.mime, `video/mp4; codecs="${video.codec}"`);
  assert.ok(video.width > 0 && video.height > 0);
  assert.equal(audio.codec, 'mp4a.40.2');
  assert.equal(audio.mime, 'audio/mp4; codecs="mp4a.40.2"');
  assert.ok(audio.sampleRate > 0 && audio.channels > 0);
  for (const i of inits) {
    assert.ok(i.data instanceof Uint8Array);
    assert.equal(boxType(i.data, 0), 'ftyp');
  }

  for (const track of ['video', 'audio']) {
    const frags = fragment.filter((f) => f.track === track);
    assert.ok(frags.length > 10, `${track}: ${frags.length} fragments`);
    for (const f of frags) {
      assert.equal(boxType(f.data, 0), 'moof');
      assert.ok(f.endMs > f.startMs && f.samples >= 1);
    }
    // Each track's fragments follow one another without going back in time.
    for (let i = 1; i < frags.length; i++) assert.ok(frags[i].startMs >= frags[i - 1].startMs);
  }
  assert.ok(fragment.find((f) => f.track === 'video').keyframe, 'video starts on a keyframe');

  const stats = remuxer.stats();
  assert.equal(stats.bytesIn > 0 && stats.fragmentsOut, fragment.length);
  // ffmpeg's test stream has no audio holes: nothing filled, and said so.
  assert.deepEqual([stats.gapsFilled, stats.gapMsFilled], [0, 0]);
  remuxer.free();
});

test('any split of the bytes gives the same output', () => {
  const whole = new Remuxer();
  const expected = [...whole.push(flv), ...whole.flush()];
  const split = new Remuxer();
  const got = [];
  for (let at = 0; at < flv.length; at += 997) got.push(...split.push(flv.subarray(at, at + 997)));
  got.push(...split.flush());
  assert.deepEqual(got, expected);
  whole.free();
  split.free();
});

test('fragmentPerPush gives a fragment per track for each push, with the same samples', () => {
  const frames = new Remuxer();
  const perFrame = byType([...frames.push(flv), ...frames.flush()]).fragment;
  const batched = new Remuxer({ fragmentPerPush: true });
  const pushes = [];
  for (let at = 0; at < flv.length; at += 4096) pushes.push(byType(batched.push(flv.subarray(at, at + 4096))).fragment ?? []);
  const fragments = pushes.flat();
  for (const got of pushes) {
    for (const track of ['video', 'audio']) assert.ok(got.filter((f) => f.track === track).length <= 1);
  }
  for (const track of ['video', 'audio']) {
    const count = (list) => list.filter((f) => f.track === track).reduce((n, f) => n + f.samples, 0);
    assert.equal(count(fragments), count(perFrame), `${track} samples`);
  }
  assert.ok(fragments.length < perFrame.length / 3, `${fragments.length} fragments`);
  assert.deepEqual(byType(batched.flush()).fragment, undefined, 'nothing held after the last push');
  frames.free();
  batched.free();
});

test('the muxed layout gives one init with both codecs', () => {
  const remuxer = new Remuxer({ layout: 'muxed', fragmentMs: 1000 });
  const { init: inits, fragment } = byType([...remuxer.push(flv), ...remuxer.flush()]);
  assert.equal(inits.length, 1);
  assert.equal(inits[0].track, null);
  assert.match(inits[0].mime, /^video\/mp4; codecs="avc1\.[0-9a-f]{6}, ?mp4a\.40\.2"$/);
  assert.ok(fragment.length > 2);
  remuxer.free();
});

test('a stream that is not FLV ends in one fatal error', () => {
  const remuxer = new Remuxer();
  const events = remuxer.push(new TextEncoder().encode('HTTP/1.1 404 Not Found\r\n\r\n'));
  assert.equal(events.length, 1);
  assert.equal(events[0].type, 'error');
  assert.equal(events[0].fatal, true);
  assert.match(events[0].message, /not an FLV stream/);
  assert.deepEqual(remuxer.push(flv), [], 'nothing more after the error');
  remuxer.free();
});

function boxType(bytes, at) {
  return new TextDecoder().decode(bytes.subarray(at + 4, at + 8));
}

test("layout: 'samples' gives decoder configurations and timed coded frames, no MP4", () => {
  const remuxer = new Remuxer({ layout: 'samples' });
  const events = [...remuxer.push(flv), ...remuxer.flush()];
  const { config, sample, init: inits, fragment, error } = byType(events);
  assert.equal(error, undefined, JSON.stringify(error));
  assert.equal(inits, undefined);
  assert.equal(fragment, undefined);
  const video = config.find((e) => e.track === 'video');
  const audio = config.find((e) => e.track === 'audio');
  assert.match(video.codec, /^avc1\.[0-9a-f]{6}$/);
  assert.equal(video.description[0], 1, 'an avcC record');
  assert.ok(video.width > 0 && video.height > 0);
  assert.equal(audio.codec, 'mp4a.40.2');
  assert.ok(audio.description instanceof Uint8Array && audio.description.length >= 2, 'AudioSpecificConfig');
  assert.ok(audio.sampleRate > 0 && audio.channels > 0);
  for (const track of ['video', 'audio']) {
    const samples = sample.filter((s) => s.track === track);
    assert.ok(samples.length >= 40, `${track}: ${samples.length} samples`);
    assert.equal(samples[0].keyframe, true);
    for (let i = 1; i < samples.length; i++) {
      const [a, b] = [samples[i - 1], samples[i]];
      assert.ok(Math.abs(a.dts + a.duration - b.dts) <= 1, `${track} ${i}: ${a.dts}+${a.duration} → ${b.dts}`);
      assert.ok(b.data instanceof Uint8Array && b.data.length > 0);
    }
  }
  assert.equal(remuxer.stats().samplesOut, sample.length);
});
