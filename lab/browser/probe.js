// The latency benchmark's probe, added to the page under test before the page's own
// scripts run (playwright's addInitScript). For every frame the <video> presents
// (requestVideoFrameCallback), or the package's WebCodecs renderer draws to its canvas,
// it draws the frame's top rows to a canvas, reads the
// stamp the publisher drew there (the layout is described in
// lab/src/bench/latency/stamp.rs) and keeps (time shown, time stamped, frame
// number). It also notes when the page reached each step towards its first frame.
// The page under test is not changed otherwise.
(() => {
  const CELL = 16;
  const COLUMNS = 40;
  const ROWS = 2;
  const WIDTH = CELL * COLUMNS;
  const HEIGHT = CELL * ROWS;
  const MS_BITS = 48;
  const SEQ_BITS = 12;
  const CRC_BITS = 16;

  const state = {
    frames: [], // [shown (Unix ms), stamped (Unix ms), frame number], drained by the bench
    unreadable: 0,
    callbacks: 0,
    presented: 0, // metadata.presentedFrames at the last callback
    seeks: 0,
    waits: 0,
    marks: {}, // step → ms since navigation start (performance.now())
  };

  const mark = (name, at = performance.now()) => {
    if (name in state.marks) return;
    state.marks[name] = Math.round(at * 10) / 10;
    // The bench waits on this binding (where it gave one) rather than poll the page.
    if (name === 'firstFrame') window.__latencyFirstFrame?.();
  };

  // Both players open their stream with `new WebSocket(url)`.
  const NativeWebSocket = window.WebSocket;
  window.WebSocket = class extends NativeWebSocket {
    constructor(...args) {
      super(...args);
      mark('wsCreated');
      this.addEventListener('open', () => mark('wsOpen'), { once: true });
      this.addEventListener('message', () => mark('wsFirstMessage'), { once: true });
    }
  };

  // The player's MSE start: the MediaSource open, its first append and that append's end.
  if (typeof MediaSource === 'function') {
    const addSourceBuffer = MediaSource.prototype.addSourceBuffer;
    MediaSource.prototype.addSourceBuffer = function (...args) {
      mark('addSourceBuffer');
      const buffer = addSourceBuffer.apply(this, args);
      buffer.addEventListener('updateend', () => mark('firstUpdateEnd'), { once: true });
      return buffer;
    };
    const appendBuffer = SourceBuffer.prototype.appendBuffer;
    SourceBuffer.prototype.appendBuffer = function (...args) {
      mark('firstAppend');
      return appendBuffer.apply(this, args);
    };
  }

  function crc16(bytes) {
    let crc = 0xffff;
    for (const b of bytes) {
      crc ^= b << 8;
      for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    return crc;
  }

  /** The stamp in RGBA pixels of the picture's top WIDTH × HEIGHT, or null. */
  function read(rgba) {
    const mean = (row, col) => {
      let sum = 0;
      for (let y = row * CELL + 4; y < row * CELL + 12; y++) {
        for (let x = col * CELL + 4; x < col * CELL + 12; x++) {
          const i = (y * WIDTH + x) * 4;
          sum += rgba[i] + 2 * rgba[i + 1] + rgba[i + 2];
        }
      }
      return sum / 256;
    };
    const bits = [];
    for (let row = 0; row < ROWS; row++) {
      const white = mean(row, 0);
      const black = mean(row, 1);
      if (white - black < 64) return null;
      const threshold = (white + black) / 2;
      for (let col = 2; col < COLUMNS; col++) bits.push(mean(row, col) > threshold ? 1 : 0);
    }
    // Numbers up to 2^53 are exact, so the 48-bit time needs no BigInt.
    const take = (from, width) => bits.slice(from, from + width).reduce((v, b) => v * 2 + b, 0);
    const ms = take(0, MS_BITS);
    const seq = take(MS_BITS, SEQ_BITS);
    const crc = take(MS_BITS + SEQ_BITS, CRC_BITS);
    const bytes = [];
    for (let i = 5; i >= 0; i--) bytes.push(Math.floor(ms / 2 ** (8 * i)) % 256);
    bytes.push(seq >> 8, seq & 0xff);
    return crc16(bytes) === crc ? { ms, seq } : null;
  }

  const canvas = new OffscreenCanvas(WIDTH, HEIGHT);
  const g = canvas.getContext('2d', { willReadFrequently: true });

  function watch(video) {
    video.addEventListener('loadedmetadata', () => mark('loadedmetadata'));
    video.addEventListener('playing', () => mark('playing'));
    video.addEventListener('seeking', () => {
      mark('seeking');
      state.seeks++;
    });
    video.addEventListener('seeked', () => mark('seeked'));
    video.addEventListener('canplay', () => mark('canplay'));
    video.addEventListener('waiting', () => state.waits++);
    const onFrame = (now, meta) => {
      video.requestVideoFrameCallback(onFrame);
      // Date.now() is the clock the publisher stamps with; the monotonic clock
      // only carries the (small) distance from now to the presentation.
      const shown = Date.now() - (performance.now() - meta.expectedDisplayTime);
      mark('firstFrame', meta.expectedDisplayTime);
      state.callbacks++;
      state.presented = meta.presentedFrames;
      // During this callback the video draws exactly the frame described by `meta`.
      record(video, video.videoWidth, shown, meta.expectedDisplayTime);
    };
    video.requestVideoFrameCallback(onFrame);
  }

  /** Reads the stamp of the picture `source` (`width` pixels wide) shown at `shown` (Unix ms). */
  function record(source, width, shown, at) {
    const scale = width / WIDTH;
    if (!scale) return;
    g.drawImage(source, 0, 0, WIDTH * scale, HEIGHT * scale, 0, 0, WIDTH, HEIGHT);
    const stamp = read(g.getImageData(0, 0, WIDTH, HEIGHT).data);
    if (!stamp) {
      state.unreadable++;
      return;
    }
    mark('firstStamp', at);
    state.frames.push([Math.round(shown * 10) / 10, stamp.ms, stamp.seq]);
  }

  // The package's WebCodecs renderer draws each picture (a VideoFrame) to its canvas
  // in an animation frame: read there, shown at the draw (the compositor puts it on
  // screen by the next vsync, which rVFC's expectedDisplayTime would include).
  const drawImage = CanvasRenderingContext2D.prototype.drawImage;
  CanvasRenderingContext2D.prototype.drawImage = function (source, ...rest) {
    drawImage.call(this, source, ...rest);
    if (typeof VideoFrame !== 'function' || !(source instanceof VideoFrame)) return;
    if (this.canvas.dataset?.flashless !== 'webcodecs') return;
    const at = performance.now();
    mark('firstFrame', at);
    state.callbacks++;
    state.presented++;
    record(source, source.displayWidth, Date.now(), at);
  };

  document.addEventListener('DOMContentLoaded', () => {
    mark('domContentLoaded');
    const video = document.querySelector('video');
    if (video) watch(video);
  });

  window.__latency = {
    /** The steps reached so far (ms since navigation start). */
    marks: () => state.marks,
    /** What was measured since the last call; frames are handed over once. */
    drain() {
      const video = document.querySelector('video');
      const b = video?.buffered;
      const ahead = b && b.length ? b.end(b.length - 1) - video.currentTime : null;
      const frames = state.frames;
      state.frames = [];
      return {
        frames,
        unreadable: state.unreadable,
        callbacks: state.callbacks,
        presented: state.presented,
        seeks: state.seeks,
        waits: state.waits,
        marks: state.marks,
        ahead,
        rate: video?.playbackRate ?? null,
        dropped: video?.getVideoPlaybackQuality?.().droppedVideoFrames ?? null,
        heap: performance.memory?.usedJSHeapSize ?? null,
      };
    },
  };
})();
