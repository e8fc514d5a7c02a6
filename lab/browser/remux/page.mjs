// The remux benchmark's page: one FLV recording in memory, cut into chunks the way a
// network delivers it, fed to each remuxer in turn. `run.mjs` drives it through
// `window.bench` and times nothing itself: every figure is measured here, around
// synchronous code, with `performance.now()`.

import { init, Remuxer } from '/pkg/flashless.js';
import { peers } from '/peers.js';

/** The loaded recording: its chunks, each an ArrayBuffer of its own as a fetch reader gives them. */
let recording = null;

const remuxers = {
  flashless: (chunks) => runFlashless(chunks, { fragmentPerPush: true }),
  'flashless-frames': (chunks) => runFlashless(chunks, {}),
  'mpegts.js': (chunks) => runPeer(peers['mpegts.js'], chunks),
  'flv.js': (chunks) => runPeer(peers['flv.js'], chunks),
};

window.bench = {
  names: Object.keys(remuxers),

  async load(url, chunkSize) {
    recording = null;
    const answer = await fetch(url);
    if (!answer.ok) throw new Error(`fetching ${url}: HTTP ${answer.status}`);
    const whole = await answer.arrayBuffer();
    const chunks = [];
    for (let at = 0; at < whole.byteLength; at += chunkSize) {
      chunks.push(whole.slice(at, Math.min(at + chunkSize, whole.byteLength)));
    }
    recording = { chunks, bytes: whole.byteLength };
    return { bytes: whole.byteLength, chunks: chunks.length };
  },

  /**
   * One timed run of `name` over the loaded recording (or over its first `limit`
   * chunks, for a warm-up). Garbage from earlier runs is collected first, so no run
   * pays for another's.
   */
  run(name, limit) {
    if (!recording) throw new Error('no recording loaded');
    const remux = remuxers[name];
    if (!remux) throw new Error(`no remuxer ${name}`);
    const chunks = limit ? recording.chunks.slice(0, limit) : recording.chunks;
    if (typeof gc === 'function') gc();
    const started = performance.now();
    const out = remux(chunks);
    const ms = performance.now() - started;
    const bytesIn = chunks.reduce((n, c) => n + c.byteLength, 0);
    return { ms, bytesIn, ...out };
  },
};

/** What a remuxer put out: counted as it comes, the bytes themselves dropped. */
function tally() {
  return { bytesOut: 0, inits: 0, fragments: 0, videoSamples: 0, audioSamples: 0, errors: 0, firstError: null };
}

function error(out, message) {
  out.errors += 1;
  out.firstError ??= String(message);
}

/**
 * The npm package's Remuxer: one init and fragment stream per track; a fragment per
 * track for each chunk (`fragmentPerPush`, as the peers make a media segment per track
 * for each chunk), or the default, a fragment per frame.
 */
function runFlashless(chunks, options) {
  const out = tally();
  const remuxer = new Remuxer(options);
  const take = (events) => {
    for (const ev of events) {
      if (ev.type === 'fragment') {
        out.bytesOut += ev.data.byteLength;
        out.fragments += 1;
        if (ev.track === 'video') out.videoSamples += ev.samples;
        else out.audioSamples += ev.samples;
      } else if (ev.type === 'init') {
        out.bytesOut += ev.data.byteLength;
        out.inits += 1;
      } else if (ev.type === 'error' || ev.type === 'unsupported') {
        error(out, ev.message ?? ev.codec);
      }
    }
  };
  for (const chunk of chunks) take(remuxer.push(new Uint8Array(chunk)));
  take(remuxer.flush());
  remuxer.free();
  return out;
}

/**
 * A peer's FLVDemuxer and MP4Remuxer wired as its TransmuxingController wires them
 * (probe, then `remuxer.bindDataSource(demuxer)`), with its IOController's handling
 * of unconsumed bytes when the stash buffer is off (the live setting): each chunk is
 * handed on at once, and what the demuxer did not consume is kept and put in front
 * of the next chunk.
 */
function runPeer(lib, chunks) {
  const out = tally();
  const config = Object.assign(lib.createDefaultConfig(), { isLive: true, enableStashBuffer: false });
  const remuxer = new lib.MP4Remuxer(config);
  remuxer.onInitSegment = (_type, segment) => {
    out.bytesOut += segment.data.byteLength;
    out.inits += 1;
  };
  remuxer.onMediaSegment = (type, segment) => {
    out.bytesOut += segment.data.byteLength;
    out.fragments += 1;
    if (type === 'video') out.videoSamples += segment.sampleCount;
    else out.audioSamples += segment.sampleCount;
  };
  let demuxer = null;
  const parse = (buffer, byteStart) => {
    if (!demuxer) {
      const probe = lib.FLVDemuxer.probe(buffer);
      if (!probe.match) {
        if (probe.needMoreData) return 0;
        throw new Error('not an FLV stream');
      }
      demuxer = new lib.FLVDemuxer(probe, config);
      demuxer.onError = (type, info) => error(out, `${type}: ${info}`);
      demuxer.onMediaInfo = () => {};
      demuxer.onMetaDataArrived = () => {};
      demuxer.onScriptDataArrived = () => {};
      remuxer.bindDataSource(demuxer);
    }
    return demuxer.parseChunks(buffer, byteStart);
  };
  let stash = null;
  let stashStart = 0;
  for (const chunk of chunks) {
    let buffer = chunk;
    if (stash) {
      const joined = new Uint8Array(stash.byteLength + chunk.byteLength);
      joined.set(new Uint8Array(stash), 0);
      joined.set(new Uint8Array(chunk), stash.byteLength);
      buffer = joined.buffer;
    }
    const consumed = parse(buffer, stashStart);
    stash = consumed < buffer.byteLength ? buffer.slice(consumed) : null;
    stashStart += consumed;
  }
  remuxer.flushStashedSamples();
  demuxer?.destroy();
  remuxer.destroy();
  return out;
}

init().then(
  () => {
    window.ready = true;
  },
  (e) => {
    window.failure = String(e?.stack ?? e);
  },
);
