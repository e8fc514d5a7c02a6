// The peers' own FLV demuxer and MP4 remuxer classes, straight from the sources their
// npm packages ship, bundled for the page by esbuild (see run.mjs): no player, no
// MediaSource, no loader around them.

import MpegtsDemuxer from 'mpegts.js/src/demux/flv-demuxer.js';
import MpegtsRemuxer from 'mpegts.js/src/remux/mp4-remuxer.js';
import { createDefaultConfig as mpegtsConfig } from 'mpegts.js/src/config.js';
import FlvjsDemuxer from 'flv.js/src/demux/flv-demuxer.js';
import FlvjsRemuxer from 'flv.js/src/remux/mp4-remuxer.js';
import { createDefaultConfig as flvjsConfig } from 'flv.js/src/config.js';

export const peers = {
  'mpegts.js': { FLVDemuxer: MpegtsDemuxer, MP4Remuxer: MpegtsRemuxer, createDefaultConfig: mpegtsConfig },
  'flv.js': { FLVDemuxer: FlvjsDemuxer, MP4Remuxer: FlvjsRemuxer, createDefaultConfig: flvjsConfig },
};
