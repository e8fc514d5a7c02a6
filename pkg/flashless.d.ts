// Typings of the npm package `flashless` (hand-written: the entry is `flashless.js`).

/** Loads the wasm module once; `Player.create` calls it. Node reads the module from disk. */
export function init(
  module?: string | URL | Request | Response | BufferSource | WebAssembly.Module,
): Promise<void>;

/** What the constructor, `create`, `load` and `init` throw. */
export class PlayerError extends Error {
  readonly code: 'no-url' | 'invalid-url' | 'no-mse' | 'no-webcodecs' | 'no-document' | 'wasm';
}

/**
 * `url` made absolute against the page; `transport` sets the scheme from the page's
 * (`'websocket'`: `ws:` or `wss:`; `'http'`: `http:` or `https:`). Throws a `PlayerError`.
 */
export function resolveUrl(url: string | URL, transport?: 'websocket' | 'http'): string;

export interface PlayerOptions {
  /**
   * `ws://…/live/<channel>.flv` (WS-FLV) or `http://…/live/<channel>.flv` (HTTP-FLV); also `wss:`,
   * `https:`, or relative to the page (`/live/<channel>.flv`), its scheme set by `transport`.
   */
  url: string | URL;
  /**
   * `'mse'` (the default): fMP4 through Media Source Extensions into the `<video>`. `'webcodecs'`:
   * decoded by WebCodecs, drawn to a canvas put in the `<video>`'s place (or `canvas`), its sound
   * on an AudioContext whose clock the pictures follow. It connects, retries and reports errors as
   * MSE does (`retry`, `headers`, `withCredentials` apply); it plays at the least latency the sound's
   * arrival allows (`liveLatency`, `maxRate`, `jumpBehind`, `backBuffer` do not apply). The hidden
   * `<video>` still takes the page's controls (`pause`, `play`, `volume`, `muted`) and says
   * `waiting` when the pictures stop and `playing` when they come again. `'auto'`:
   * the lowest latency this browser plays, WebCodecs where it has `VideoDecoder` and `AudioDecoder`
   * (except WebKit), MSE elsewhere.
   */
  renderer?: 'mse' | 'webcodecs' | 'auto';
  /** With `renderer: 'webcodecs'`: the canvas to draw to, instead of one made in the `<video>`'s place. */
  canvas?: HTMLCanvasElement;
  /** For a relative `url`: `'websocket'` (`ws:`/`wss:` after the page's scheme) or `'http'` (the default). */
  transport?: 'websocket' | 'http';
  /** Request headers for HTTP-FLV (a WebSocket cannot send any: put a token in the URL). */
  headers?: HeadersInit;
  /** Send cookies and HTTP authentication with a cross-origin HTTP-FLV request (`credentials: 'include'`). */
  withCredentials?: boolean;
  /**
   * When to connect again after a lost connection. Bounds (defaults: every attempt, 500 ms doubling up
   * to 8 s, with jitter), or a function given each failure that returns the delay in ms, or anything
   * else to stop with a fatal error. By default 401, 403, 404 and a WebSocket closed by policy are fatal.
   * The function runs while the player decides: to switch URLs (a fresh token), return `false` and
   * call `load()` on the fatal `error` event.
   */
  retry?: RetryBounds | ((context: RetryContext) => number | false | null | undefined);
  /**
   * Seconds behind the newest media to play at; left out, the player's default, 0.5 s.
   * Each time the buffer runs dry it grows by 0.1 s, and once when the first frame shows over 0.1 s
   * later than that (a slow start), up to 1 s (or this value, if larger); when the source sent
   * nothing for a second or more meanwhile (a publisher's stalled uplink), to that gap plus 0.1 s
   * at once, up to `jumpBehind` less 0.5 s. After each 20 s without it comes back 0.05 s (or a
   * quarter of what it is raised by, if more), to this value at the lowest.
   * It is at least the video's frame interval plus 0.1 s (a source of 1 frame a second).
   */
  liveLatency?: number;
  /** Fastest playbackRate used to catch up with the live edge (default 1.15, at most 1.5). */
  maxRate?: number;
  /** Further behind than this many seconds, jump instead of catching up (default 3). */
  jumpBehind?: number;
  /** Seconds of media kept behind the playhead; older buffer is removed (default 10). */
  backBuffer?: number;
  /** Call `video.play()` when the first media is buffered (default true). */
  autoplay?: boolean;
  /**
   * Where the browser has no Media Source Extensions but its `<video>` plays HLS (iPhones
   * before iOS 17.1, TVs): the HLS playlist played instead (default: the same channel's
   * on a flashless gateway, `…/live/<channel>/index.m3u8`), or `false` to fail with `no-mse`.
   */
  hls?: string | false;
  /** Where to load the wasm module from, passed to `init`. */
  wasm?: string | URL | Request | Response | BufferSource | WebAssembly.Module;
}

export interface PlayerStats {
  /** Seconds from the playhead to the newest media received. */
  latency: number;
  /** Seconds buffered ahead of the playhead. */
  buffered: number;
  /** Received bits per second, over the last few seconds. */
  bitrate: number;
  /**
   * Video frames per second: presented (counted by `requestVideoFrameCallback`, where the
   * browser has it), otherwise decoded; with `renderer: 'webcodecs'`, decoded.
   */
  fps: number;
  decodedFrames: number;
  droppedFrames: number;
  /** RFC 6381 codecs strings of the tracks playing, video first, e.g. `["avc1.64001e", "mp4a.40.2"]`. */
  codecs: string[] | null;
  /** Connections re-established after a loss. */
  reconnects: number;
  playbackRate: number;
  currentTime: number;
  /** Bytes received in all. */
  bytes: number;
  /** Timestamp jumps in the stream (an upstream restart), bridged by the remuxer. */
  discontinuities: number;
  /**
   * Jumps to the live edge (too far behind, or back from a hidden tab). WebCodecs: `jumpToLive()`,
   * a `play` after a `pause`, and restarts of a clock that ran slow.
   */
  jumps: number;
  /**
   * Stalls with data ahead (and seeks re-aimed), recovered by moving the playhead. WebCodecs: times
   * the pictures stopped (no new one for 250 ms, or 2.5 frame intervals).
   */
  stalls: number;
  /** Holes in the buffer skipped. WebCodecs: holes in the sound's timeline, where its decoder starts again. */
  gaps: number;
  /**
   * The latency held now: `liveLatency`, raised 0.1 s each time the buffer ran dry (or to cover
   * a gap of a second or more the source left) and lowered 0.05 s (or a quarter of the raise)
   * after each 20 s without, back to `liveLatency` (the wait doubles, up to 160 s, each
   * time the buffer runs dry soon after). WebCodecs: the sound's
   * margin (s), raised 0.01 s by each underrun, up to 0.06 s, and lowered 0.01 s after each
   * 20 s without, back to 0.02 s.
   */
  targetLatency: number;
  /**
   * Milliseconds spent neither playing nor paused by the viewer since the start: waiting for media
   * or seeking while playback is wanted (includes the wait for the first frame).
   */
  stuckMs: number;
  /** Seeks made to get a stuck playhead going: over holes, out of stalls, seeks re-aimed. WebCodecs: decoders made again after an error. */
  recoveries: number;
  /**
   * Times `playbackRate` changed. The latency is chased with one small rate (1.05–`maxRate`, steps of
   * 0.05) from 0.25 s past the target (half the target, if less) until it is back at the target, raised
   * at most every 2 s. WebCodecs:
   * changes of the sound's rate (1.05× while a surplus is played off).
   */
  rateChanges: number;
  /**
   * Times the player built a new MediaSource because a track started after playback did (audio
   * seconds after video, or joined before the audio's sequence header), so that it plays too;
   * because a track changed to a codec its SourceBuffer cannot take; or because a track went (a
   * publisher back with sound only). 3 at once, then one every 20 s (one past that waits its
   * turn). WebCodecs: 0 (tracks are decoded as
   * they come).
   */
  rebuilds: number;
  /** Holes in the audio the remuxer filled with silence, over all connections. */
  gapsFilled: number;
  /** Milliseconds of those holes. */
  gapMsFilled: number;
  /**
   * Times the last picture was held (or its hold renewed) while the pictures stopped and the
   * sound went on, so that the element plays on, over all connections: MSE, H.264 in every
   * browser, other codecs in Chromium; 0 with WebCodecs (which shows its last picture until
   * the next).
   */
  picturesHeld: number;
  /**
   * `'hls'` when the browser has no MSE and the `<video>` plays the channel's HLS itself (the `hls`
   * option): then only `latency`, `buffered`, frames, `playbackRate` and `currentTime` are known.
   */
  native?: 'hls';
  /** `'webcodecs'` with `renderer: 'webcodecs'`, which adds the fields below. */
  renderer?: 'webcodecs';
  /** Pictures drawn to the canvas. */
  drawnFrames?: number;
  /** The `AudioContext`'s clock (s). */
  audioTime?: number;
  /** How long after the sound is rendered the audio device plays it (s): pictures wait for all of it past 45 ms. */
  audioLatency?: number;
  /** The sound's volume: the `<video>`'s `volume`, 0 while it is `muted` (its controls still apply). */
  volume?: number;
  /** Sound queued ahead of the clock (s): as little as the stream's arrival allows (a 20–60 ms margin). */
  audioAhead?: number;
  /** Audio frames (samples per channel) scheduled. */
  audioFrames?: number;
  /** Decoded sound skipped: late on its clock after a gap or a stall, or too far behind the newest (for up to 0.5 s). */
  audioSkipped?: number;
  /** Times the sound ran out before late data came (each adds 10 ms to the margin). */
  audioUnderruns?: number;
  /**
   * How much later the sound may come, allowed an `AudioDecoder` that holds its output (s): grown
   * when sound stays too far behind the newest for 0.5 s, brought back down after each 20 s to
   * what the sound played meanwhile needed (0 where it needed none).
   */
  decoderLag?: number;
  /** Newest video timestamp minus newest audio timestamp received (s). */
  audioBehind?: number;
}

export interface RetryBounds {
  /** Retries after a failure before it is fatal (default: no limit). */
  maxAttempts?: number;
  /** The first delay (default 500 ms); each next one doubles … */
  minDelayMs?: number;
  /** … up to this (default 8000 ms). */
  maxDelayMs?: number;
}

export interface RetryContext extends Omit<PlayerErrorDetail, 'message' | 'fatal'> {
  /** 1 for the first retry. */
  attempt: number;
  /** What the default policy would wait (ms), `null` where it would stop. */
  defaultDelayMs: number | null;
}

/** `network`: the connection; `media`: the stream or the browser's media stack; `other`: the rest. */
export type ErrorType = 'network' | 'media' | 'other';

export type ErrorDetails =
  /** HTTP 401 (over WebSocket: learnt by asking the same URL over HTTP), or a WebSocket closed with 4401. Fatal by default. */
  | 'unauthorized'
  /** HTTP 403, or a WebSocket closed with 4403. Fatal by default. */
  | 'forbidden'
  /** HTTP 404 (no such channel), or a WebSocket closed with 4404. Fatal by default, except in the first 5 attempts after a `draining` close (a gateway restarted in place has no channel until its publisher is back). */
  | 'not-found'
  /** Another HTTP error status, in `httpStatus` (503: the channel is not live). */
  | 'http-status'
  /** A WebSocket closed by the server with 1008 or another 4xxx code. Fatal by default. */
  | 'policy'
  /** The connection failed or broke (`reason`: the browser's words, or the WebSocket close code). */
  | 'connection'
  /** The server ended the stream. */
  | 'ended'
  /** A WebSocket closed with 1001 ("going away") by a draining gateway: the player reconnects at once, with no backoff and not counted as a failed attempt (once; a second one before any data is retried as a lost connection). */
  | 'draining'
  /** No data for 20 s. */
  | 'idle'
  /** The bytes are not FLV. */
  | 'protocol'
  /** One tag could not be remuxed; playback goes on. */
  | 'demux'
  /** The track's codec cannot be played here (`codec`); the other track plays on. */
  | 'codec-unsupported'
  /** The codec changed mid-stream and this browser cannot switch. */
  | 'codec-change'
  /** The SourceBuffer fell behind; queued media was dropped. */
  | 'buffer-overflow'
  /** `appendBuffer` failed. */
  | 'append'
  /** The SourceBuffer is full and freeing the back buffer did not help. */
  | 'quota'
  /** `addSourceBuffer` failed. */
  | 'source-buffer'
  /** The `<video>` reported an error: the MediaSource is rebuilt once; again within 30 s, fatal. */
  | 'decode'
  /** The browser closed the MediaSource: rebuilt once, as for `decode`. */
  | 'media-source'
  /** Native HLS: the `<video>` made no progress for 8 s while the channel's playlist grew, or dropped nearly every frame for 4 s; its source is loaded again. */
  | 'stalled';

export interface PlayerErrorDetail {
  type: ErrorType;
  details: ErrorDetails;
  /** `true`: the stream stopped (no more retries); `load()` starts again. */
  fatal: boolean;
  /** Words for people, from `details` and `reason`. */
  message: string;
  track: Track | null;
  /** The codec concerned, for `codec-unsupported` and the like. */
  codec?: string;
  /**
   * `true` for a `codec-unsupported` video codec that `renderer: 'webcodecs'` plays, its
   * pictures decoded in the wasm: Sorenson Spark, Screen Video 1 and 2 (not in the lean build).
   */
  webcodecs?: boolean;
  /** The HTTP status, for `unauthorized`, `forbidden`, `not-found`, `http-status`. */
  httpStatus?: number;
  /** What the browser or the server said, when it said something. */
  reason?: string;
}

/** A script-data tag of the stream: `onMetaData`, `onCuePoint`, `onTextData`, any AMF data. */
export interface ScriptDataDetail {
  /** The first AMF value when it is a string (the handler name, e.g. `onCuePoint`), else `null`. */
  name: string | null;
  /** The values after the name, as plain JS values (AMF objects as objects, byte arrays as `Uint8Array`). */
  values: unknown[];
  /** The tag's timestamp (ms). */
  timestamp: number;
}

export interface PlayerEvents {
  stats: PlayerStats;
  error: PlayerErrorDetail;
  /** The connection was lost, or the gateway drains (`reason: 'draining'`, `attempt` unchanged, `delay` 0); the next try starts after `delay` seconds. */
  reconnecting: { attempt: number; delay: number; reason: ErrorDetails; error: PlayerErrorDetail };
  reconnected: { attempt: number };
  /** The codecs strings of the tracks playing changed. */
  codecs: string[];
  /** The stream's `onMetaData` object. */
  metadata: Record<string, unknown>;
  scriptdata: ScriptDataDetail;
  /** The browser refused to start playback (autoplay with sound): show a play button, or mute. */
  autoplayblocked: undefined;
}

export class Player extends EventTarget {
  static isSupported(): boolean;
  /** Whether this browser has `VideoDecoder` and `AudioDecoder`, which `renderer: 'webcodecs'` needs. */
  static isWebCodecsSupported(): boolean;
  /** Starts playing `options.url` in `video`; resolves once the MediaSource is open. */
  static create(video: HTMLVideoElement, options: PlayerOptions): Promise<Player>;
  /** Prefer `Player.create`, which loads the wasm module first. */
  constructor(video: HTMLVideoElement, options: PlayerOptions);
  /** Calls `callback(detail)` on each `name` event; returns a function that unsubscribes. */
  on<K extends keyof PlayerEvents>(name: K, callback: (detail: PlayerEvents[K]) => void): () => void;
  off<K extends keyof PlayerEvents>(name: K, callback: (detail: PlayerEvents[K]) => void): void;
  /** `null` once destroyed. */
  stats(): PlayerStats | null;
  /** Seeks to the live edge now (`liveLatency` behind the newest media, however far running dry had raised the latency held). */
  jumpToLive(): void;
  /** Plays another stream in the same `<video>`; also after `unload()` or a fatal error. */
  load(url: string | URL, transport?: 'websocket' | 'http'): void;
  /** Stops loading and detaches the stream; the `<video>` and the player stay, for `load()`. */
  unload(): void;
  /** Closes the stream, detaches from the `<video>`, releases listeners, timers and buffers. */
  destroy(): void;
}

export interface RemuxerOptions {
  /** `perTrack` (default): one init and fragment stream per track, for one SourceBuffer each; `muxed`: one for all. */
  layout?: 'perTrack' | 'muxed';
  /** Collect a fragment per track until it spans this many ms (default: a fragment per frame). */
  fragmentMs?: number;
  /**
   * One fragment per track for each `push()`: all the frames it completed, none held for later
   * (takes precedence over `fragmentMs`). Far fewer fragments than one per frame when a push
   * carries many frames (a network read), at no added latency; the fragments then depend on
   * how the bytes were split.
   */
  fragmentPerPush?: boolean;
  /** The input starts with a tag, not with the FLV file header. */
  tagsOnly?: boolean;
}

export type Track = 'video' | 'audio';

export type RemuxerEvent =
  | { type: 'header'; hasAudio: boolean; hasVideo: boolean }
  | {
      type: 'init';
      track: Track | null;
      /** For `MediaSource.addSourceBuffer`, e.g. `video/mp4; codecs="avc1.64001f"`. */
      mime: string;
      codec: string;
      /** A view: the `data` of one `push()`'s events share one `ArrayBuffer`. */
      data: Uint8Array;
      width: number;
      height: number;
      sampleRate: number;
      channels: number;
      timescale: number;
    }
  | {
      type: 'fragment';
      track: Track | null;
      /** A view: the `data` of one `push()`'s events share one `ArrayBuffer`. */
      data: Uint8Array;
      startMs: number;
      endMs: number;
      keyframe: boolean;
      samples: number;
    }
  | { type: 'discontinuity'; track: Track; fromMs: number; toMs: number }
  | { type: 'metadata'; value: Record<string, unknown> }
  /** Every script-data tag (also `onMetaData`): its AMF values, a leading `@setDataFrame` left out. */
  | { type: 'scriptdata'; timestamp: number; values: unknown[] }
  | { type: 'unsupported'; track: Track; codec: string }
  | { type: 'error'; track: Track | null; message: string; fatal?: boolean };

export interface RemuxerStats {
  tagsIn: number;
  bytesIn: number;
  fragmentsOut: number;
  bytesOut: number;
  samplesOut: number;
  dropped: number;
  /** Holes in the audio filled with silence (or a stretched frame). */
  gapsFilled: number;
  /** Milliseconds of those holes. */
  gapMsFilled: number;
}

/** FLV bytes in (any split), fragmented MP4 out. Works in pages, Web Workers and Node after `init()`. */
export class Remuxer {
  constructor(options?: RemuxerOptions);
  /** Feeds FLV bytes; returns the events they caused. */
  push(bytes: Uint8Array): RemuxerEvent[];
  /** End of stream: what is still held goes out. */
  flush(): RemuxerEvent[];
  stats(): RemuxerStats;
  /** Releases the wasm memory this remuxer holds. */
  free(): void;
}
