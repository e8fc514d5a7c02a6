// Typings of the npm package `flashless` (hand-written: the entry is `flashless.js`).

/** Loads the wasm module once; `Player.create` calls it. Node reads the module from disk. */
export function init(
  module?: string | URL | Request | Response | BufferSource | WebAssembly.Module,
): Promise<void>;

export interface PlayerOptions {
  /** `ws://…/live/<channel>.flv` (WS-FLV) or `http://…/live/<channel>.flv` (HTTP-FLV); also `wss:`, `https:`. */
  url: string;
  /**
   * Seconds behind the newest media to play at; left out, the player's default, 0.5 s.
   * Each time the buffer runs dry it grows by 0.1 s, up to 1 s (or this value, if larger).
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
  /** Decoded video frames per second. */
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
  /** Jumps to the live edge (too far behind, or back from a hidden tab). */
  jumps: number;
  /** Stalls with data ahead (and seeks re-aimed), recovered by moving the playhead. */
  stalls: number;
  /** Holes in the buffer skipped. */
  gaps: number;
  /** The latency held now: `liveLatency`, raised each time the buffer ran dry. */
  targetLatency: number;
  /**
   * Milliseconds spent neither playing nor paused by the viewer since the start: waiting for media
   * or seeking while playback is wanted (includes the wait for the first frame).
   */
  stuckMs: number;
  /** Seeks made to get a stuck playhead going: over holes, out of stalls, seeks re-aimed. */
  recoveries: number;
  /**
   * Times the player built a new MediaSource because a track started after playback did (audio
   * seconds after video, or joined before the audio's sequence header), so that it plays too.
   */
  rebuilds: number;
  /** Holes in the audio the remuxer filled with silence, over all connections. */
  gapsFilled: number;
  /** Milliseconds of those holes. */
  gapMsFilled: number;
}

export interface PlayerErrorDetail {
  message: string;
  track: 'video' | 'audio' | null;
  /** The codec concerned, for an unsupported one. */
  codec: string | null;
  /** Errors are reported and playback goes on (the other track, the next connection). */
  fatal: boolean;
}

export interface PlayerEvents {
  stats: PlayerStats;
  error: PlayerErrorDetail;
  /** The connection was lost; the next try starts after `delay` seconds. */
  reconnecting: { attempt: number; delay: number; reason: string };
  reconnected: { attempt: number };
  /** The codecs strings of the tracks playing changed. */
  codecs: string[];
  /** The stream's `onMetaData` object. */
  metadata: Record<string, unknown>;
}

export class Player extends EventTarget {
  static isSupported(): boolean;
  /** Starts playing `options.url` in `video`; resolves once the MediaSource is open. */
  static create(video: HTMLVideoElement, options: PlayerOptions): Promise<Player>;
  /** Prefer `Player.create`, which loads the wasm module first. */
  constructor(video: HTMLVideoElement, options: PlayerOptions);
  /** Calls `callback(detail)` on each `name` event; returns a function that unsubscribes. */
  on<K extends keyof PlayerEvents>(name: K, callback: (detail: PlayerEvents[K]) => void): () => void;
  off<K extends keyof PlayerEvents>(name: K, callback: (detail: PlayerEvents[K]) => void): void;
  /** `null` once destroyed. */
  stats(): PlayerStats | null;
  /** Seeks to the live edge now (`liveLatency` behind the newest media), as after a hidden tab. */
  jumpToLive(): void;
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
