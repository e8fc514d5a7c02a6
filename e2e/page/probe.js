// Picture and sound probes, one copy for every browser test: the test pages import it, and
// the tests of pages they do not serve (the gateway's viewer page) inject `installProbe`
// with `page.evaluate` or `addInitScript`, so it must stay self-contained.

/** Installs `window.__probe`: `picture(el)` and `tone(video)`, of the page's `#video` by default. */
export function installProbe() {
  const byId = () => document.getElementById('video');
  let audio;
  window.__probe = {
    /**
     * A 64×48 copy of what a <video> or <canvas> shows: mean and variance of luma, the most
     * saturated pixel, the luma, and a digest of the pixels; null before it has a picture.
     */
    picture(el = byId()) {
      if (!el || !(el.videoWidth || (el instanceof HTMLCanvasElement && el.width))) return null;
      const canvas = document.createElement('canvas');
      canvas.width = 64;
      canvas.height = 48;
      const g = canvas.getContext('2d', { willReadFrequently: true });
      g.drawImage(el, 0, 0, 64, 48);
      const px = g.getImageData(0, 0, 64, 48).data;
      const luma = [];
      let sum = 0;
      let sq = 0;
      let saturation = 0;
      let digest = 0;
      for (let i = 0; i < px.length; i += 4) {
        const y = 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
        luma.push(y);
        sum += y;
        sq += y * y;
        saturation = Math.max(saturation, Math.max(px[i], px[i + 1], px[i + 2]) - Math.min(px[i], px[i + 1], px[i + 2]));
        digest = (digest * 31 + px[i] + 7 * px[i + 1] + 13 * px[i + 2]) >>> 0;
      }
      const n = luma.length;
      return { mean: sum / n, variance: sq / n - (sum / n) ** 2, saturation, luma, digest };
    },

    /**
     * The element's sound through an analyser (made at the first call, once the page may run
     * an AudioContext): energy at 1 kHz and at the loudest bin against the median bin, in dB,
     * the loudest bin's frequency, and the context's state. The element is routed through the
     * context only once it runs: an element captured by a context still starting stops playing
     * until it does (Firefox's took 0.4–1.7 s on an idle null sink, `startSoundServer`).
     */
    tone(video = byId()) {
      if (!audio) {
        const context = new AudioContext();
        const node = context.createAnalyser();
        node.fftSize = 4096;
        node.connect(context.destination);
        audio = { context, node, bins: new Float32Array(node.frequencyBinCount), source: null };
      }
      const { context, node, bins } = audio;
      // A context left suspended is asked again (a guess at why a WebKitGTK test once heard
      // nothing at all); its state is reported, so a silent analyser says why.
      if (context.state === 'suspended') context.resume();
      if (context.state !== 'running') {
        return { at1k: -Infinity, median: -Infinity, loudestHz: 0, contrast: 0, peakContrast: 0, state: context.state };
      }
      if (!audio.source) {
        audio.source = context.createMediaElementSource(video);
        audio.source.connect(node);
      }
      node.getFloatFrequencyData(bins);
      const hz = context.sampleRate / node.fftSize;
      const at = Math.round(1000 / hz);
      const at1k = Math.max(...bins.slice(at - 2, at + 3));
      const sorted = [...bins].filter(Number.isFinite).sort((a, b) => a - b);
      const median = sorted.length ? sorted[sorted.length >> 1] : -Infinity;
      let loudest = 0;
      bins.forEach((v, i) => {
        if (v > bins[loudest]) loudest = i;
      });
      return {
        at1k,
        median,
        loudestHz: loudest * hz,
        contrast: at1k - median,
        peakContrast: bins[loudest] - median,
        state: context.state,
      };
    },
  };
}
