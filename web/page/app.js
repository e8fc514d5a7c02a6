// The viewer page. It uses the npm package `flashless` exactly as any site would.
import { Player, init } from '/pkg/flashless.js';

const $ = (id) => document.getElementById(id);
const video = $('video');
const embed = location.pathname.startsWith('/embed/');
const CHART_SECONDS = 60;
const RECORDINGS_SHOWN = 100; // the newest, of the selected channel

let channels = [];
let selected = null; // the channel name shown, set at once when picked
let current = null; // { name, player } once its player exists
let generation = 0; // bumped by each player start and stop, so a slower earlier start gives up
let starting = false; // a player is being created
let failed = false; // creating the selected channel's player failed: no retries until another pick
let listed = false; // the channel list has been read once
let unreachable = false; // the last read of the list failed
let samples = []; // { t, latency, bitrate } for the chart
let recording = null; // the path of the recording playing instead of the live stream
let listings = 0; // reads of the channel list
// A play token the link carries (`/watch/<name>?token=…`, as `flashless sign` makes
// them): where the gateway requires one, the stream and the recordings need it too.
const token = new URLSearchParams(location.search).get('token');
const withToken = (url) => (token ? `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : url);
// The channel the gateway said is listed when it served this page (`<html data-listed>`
// on /watch/<name>): its player starts at once, not after the first read of the list.
const preListed = document.documentElement.hasAttribute('data-listed') ? routeName() : null;

document.body.classList.toggle('embed', embed);
for (const el of document.querySelectorAll('.host')) el.textContent = location.hostname;

// ---- routing: /watch/<name>, /embed/<name>, or #/watch/<name> ----

function routeName() {
  // The hash first: picking a channel in the list on a /watch/<name> page sets it.
  const hash = location.hash.match(/^#\/watch\/([^/]+)$/);
  if (hash) return decodeURIComponent(hash[1]);
  const path = location.pathname.match(/^\/(?:watch|embed)\/([^/]+)$/);
  return path ? decodeURIComponent(path[1]) : null;
}

window.addEventListener('hashchange', () => {
  // /watch/a#/watch/b reads as b; say so with one name in the address bar.
  if (!embed && location.hash && location.pathname !== '/') history.replaceState(null, '', `/${location.hash}`);
  watch(routeName());
});
// Back and forward between /watch/a and /#/watch/b change the path: no hashchange for those.
window.addEventListener('popstate', () => watch(routeName()));

// ---- the channel list ----

// The list is read every 2 s while the page shows it. An embed shows none, and while its
// channel plays its player says itself when the stream stops: every 10 s then; a page
// in a hidden tab too, and at once when it is shown again or its video waits for data.
// (Polled every 2 s, 10,000 open pages cost the gateway about 0.13 of a core.)
const LIST_EVERY_MS = 2000;
const LIST_QUIET_EVERY_MS = 10_000;
let listTimer = null; // the next read of the list, while none is under way

function listLater() {
  const quiet = document.hidden || (embed && current && !video.paused);
  listTimer = setTimeout(refreshChannels, quiet ? LIST_QUIET_EVERY_MS : LIST_EVERY_MS);
}

function listNow() {
  if (listTimer === null) return; // a read is under way
  clearTimeout(listTimer);
  refreshChannels();
}

document.addEventListener('visibilitychange', () => document.hidden || listNow());

async function refreshChannels() {
  listTimer = null;
  try {
    const response = await fetch('/api/channels', { cache: 'no-store' });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    channels = await response.json();
    listed = true;
    if (unreachable) setState('');
    unreachable = false;
    renderChannels();
    if (!selected && !routeName() && !embed) {
      const first = channels.find((c) => c.state === 'live') || channels[0];
      if (first) location.hash = `#/watch/${encodeURIComponent(first.name)}`;
    }
    if (selected) {
      const c = channels.find((x) => x.name === selected);
      showRtmpUrls(c);
      if (current && !c) stopPlayer();
      if (current) showChannelState(c);
      else startPlayer();
    }
  } catch (e) {
    unreachable = true;
    setState(`Cannot reach the gateway (${e.message}); retrying…`);
  }
  // The recordings change more slowly: every fifth time.
  if (++listings % 5 === 0) refreshRecordings();
  listLater();
}

function describe(c) {
  const parts = [];
  if (c.width && c.height) parts.push(`${c.width}×${c.height}`);
  if (c.fps && c.state === 'live') parts.push(`${c.fps} fps`);
  const codecs = [c.video_codec, c.audio_codec].filter(Boolean).join(', ');
  if (codecs) parts.push(codecs);
  parts.push(`${c.viewers} watching`);
  return parts.join(' · ');
}

// What the list shows, as last drawn: it is polled every 2 s and rarely changes, and
// drawing it again costs the page style and layout work while it plays.
let drawnChannels = null;

function renderChannels() {
  const list = $('channel-list');
  const shown = JSON.stringify([selected, channels.map((c) => [c.name, c.state, describe(c)])]);
  if (shown === drawnChannels) return;
  drawnChannels = shown;
  $('channels-empty').hidden = channels.length > 0;
  list.replaceChildren(
    ...channels.map((c) => {
      const li = document.createElement('li');
      const a = document.createElement('a');
      a.href = `#/watch/${encodeURIComponent(c.name)}`;
      if (selected === c.name) a.setAttribute('aria-current', 'page');
      const badge = document.createElement('span');
      badge.className = `badge ${c.state}`;
      badge.textContent = c.state;
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = c.name;
      const meta = document.createElement('span');
      meta.className = 'meta';
      meta.textContent = describe(c);
      a.append(badge, name, meta);
      li.append(a);
      return li;
    }),
  );
}

// ---- states shown over the video ----

function setState(text) {
  $('state').textContent = text || '';
}

// A message over the video; over a playing one (an error the player plays on after,
// e.g. one track's codec unsupported) it goes away after a while.
function notice(text) {
  setState(text);
  setTimeout(() => {
    if ($('state').textContent === text && !video.paused && video.readyState >= 3) setState('');
  }, 6000);
}

function showChannelState(c) {
  if (!video.paused && video.readyState >= 3) return;
  if (c.state === 'retrying') setState(`Reconnecting to the source: ${c.error}`);
  else if (c.state === 'idle' && c.source === 'publish') setState('Offline: waiting for the publisher');
  else if (c.state === 'connecting' && c.source === 'publish') setState('The publisher is connected; waiting for its media…');
  else if (c.state === 'connecting') setState('Connecting to the source…');
}

// ---- the player ----

function watch(name) {
  if (selected === name && name) return;
  leaveRecording();
  stopPlayer();
  selected = name;
  failed = false;
  samples = [];
  $('stats').replaceChildren(); // the last channel's numbers until the next tick
  renderChannels();
  if (!name) return setState('Pick a channel');
  setState('Connecting…');
  showUrls(name);
  refreshRecordings();
  startPlayer();
}

function stopPlayer() {
  generation++;
  if (current) current.player.destroy();
  current = null;
}

// The selected channel's player, started once the list says the channel exists: the
// gateway answers 404 for any other, which the player reports as a fatal `not-found`
// error, but the browser also logs the refused request in the console.
// One start at a time: players share the <video>, and destroying a stale one detaches it.
async function startPlayer() {
  if (!selected || current || starting || failed || recording) return;
  const name = selected;
  if (!listed && name !== preListed) return;
  if (listed && !channels.some((c) => c.name === name)) return setState(`No channel “${name}” yet: waiting for it…`);
  const mine = ++generation;
  starting = true;
  let player;
  try {
    // On a steady network 0.15 s of buffer is enough; the player raises it by 0.1 s
    // each time the buffer runs dry (at once to cover a source that sent nothing for a
    // second or more), and brings it back after a calm spell.
    player = await Player.create(video, { url: streamUrl(name), liveLatency: 0.15, ...rendererFor(name) });
  } catch (e) {
    starting = false;
    if (mine !== generation) return startPlayer();
    failed = true;
    setState(`Cannot play ${name}: ${e.message || e}`);
    return;
  }
  starting = false;
  if (mine !== generation) {
    // Another channel was picked meanwhile: now start that one.
    player.destroy();
    return startPlayer();
  }
  try {
    current = { name, player };
    player.on('error', (e) => {
      if (!e.fatal && e.webcodecs && !wasmDecoded.has(name) && Player.isWebCodecsSupported()) {
        wasmDecoded.add(name);
        stopPlayer();
        return startPlayer();
      }
      if (!e.fatal) return notice(e.message);
      // The stream stopped for good (refused, or gone): say why; a channel that is
      // gone starts again when the list shows it, any other waits for another pick.
      stopPlayer();
      failed = e.details !== 'not-found';
      setState(failed ? `Cannot play ${name}: ${e.message}` : `No channel “${name}” yet: waiting for it…`);
    });
    player.on('reconnecting', (e) => setState(`Reconnecting… ${e.error.message}`));
    player.on('reconnected', () => setState(''));
    await startPlayback(mine);
  } catch (e) {
    if (mine === generation) setState(`Cannot play ${name}: ${e.message || e}`);
  }
}

// Flash's codecs that no browser decodes (Sorenson Spark, Flash Player's camera; Screen
// Video, its screen sharing) play through WebCodecs only, decoded in the wasm: a channel
// the list names so starts there, and one the MSE player finds so starts again there.
const wasmDecoded = new Set();
const WASM_DECODED = new Set(['flv1', 'flashsv', 'flashsv2']);

function rendererFor(name) {
  const c = channels.find((x) => x.name === name);
  const wasm = WASM_DECODED.has(c?.video_codec) || wasmDecoded.has(name);
  return wasm && Player.isWebCodecsSupported() ? { renderer: 'webcodecs' } : {};
}

function streamUrl(name) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return withToken(`${scheme}://${location.host}/live/${encodeURIComponent(name)}.flv`);
}

async function startPlayback(mine) {
  try {
    await video.play();
  } catch (e) {
    // Another channel was picked meanwhile (AbortError), or the player was destroyed.
    if (mine !== generation || e.name !== 'NotAllowedError') return;
    // Autoplay with sound is blocked until the viewer interacts; muted autoplay is allowed,
    // with a button for sound at once (not after play() settles: a MediaSource rebuilt
    // meanwhile can leave that promise pending or rejected).
    video.muted = true;
    $('unmute').hidden = false;
    await video.play().catch(() => {});
  }
}

video.addEventListener('playing', () => setState(''));
// However sound comes back (the button, the mute key, the volume), its offer goes.
video.addEventListener('volumechange', () => {
  if (!video.muted) $('unmute').hidden = true;
});
video.addEventListener('waiting', () => {
  setState('Buffering…');
  // An embed reads the list slowly while it plays: the channel's state now says why.
  listNow();
});
// WebKit does not always fire 'playing' after a wait (a seek within what is buffered):
// time that moves again, with data ahead, ends the wait as well.
video.addEventListener('timeupdate', () => {
  if ($('state').textContent === 'Buffering…' && !video.paused && !video.seeking && video.readyState >= 3) setState('');
});

function showUrls(name) {
  const wsUrl = streamUrl(name);
  const httpUrl = wsUrl.replace(/^ws/, 'http');
  const c = channels.find((x) => x.name === name);
  $('url-ws').textContent = wsUrl;
  $('url-http').textContent = httpUrl;
  $('url-rtmp').textContent = '';
  $('url-rtmps').textContent = '';
  showRtmpUrls(c);
  $('url-embed').textContent = `<iframe src="${withToken(`${location.origin}/embed/${encodeURIComponent(name)}`)}" allow="autoplay; fullscreen; picture-in-picture"></iframe>`;
  $('snippet').textContent = [
    'npm install flashless',
    '',
    "import { Player } from 'flashless';",
    `const player = await Player.create(document.querySelector('video'), {`,
    `  url: '${wsUrl}',`,
    '});',
  ].join('\n');
}

function showRtmpUrls(c) {
  if (!c) return;
  const rtmp = c.urls?.rtmp || '(the RTMP listener is off)';
  const rtmps = c.urls?.rtmps || '';
  // Every read of the list: the same text set again would be laid out again.
  if ($('url-rtmp').textContent !== rtmp) $('url-rtmp').textContent = rtmp;
  if ($('url-rtmps').textContent !== rtmps) $('url-rtmps').textContent = rtmps;
  $('rtmps').hidden = !rtmps;
}

// ---- the selected channel's recordings: a file played as it is, seekable, not live ----

async function refreshRecordings() {
  const box = $('recordings');
  const name = selected;
  let list = [];
  if (name && !embed) {
    try {
      const query = `channel=${encodeURIComponent(name)}&order=newest&limit=${RECORDINGS_SHOWN}`;
      const response = await fetch(withToken(`/api/recordings?${query}`), { cache: 'no-store' });
      if (response.ok) list = await response.json();
    } catch {
      // No list: the box stays as it was.
      return;
    }
  }
  if (name !== selected) return;
  box.hidden = list.length === 0 && !recording;
  $('recording-list').replaceChildren(
    ...list.map((r) => {
      const li = document.createElement('li');
      const button = document.createElement('button');
      button.dataset.path = r.path;
      button.setAttribute('aria-current', String(r.path === recording));
      const start = r.start.replace('T', ' ').replace('Z', ' UTC');
      button.textContent = `${start} · ${fmt(r.duration, 0, ' s')} · ${fmt(r.bytes / 1e6, 1, ' MB')}`;
      button.addEventListener('click', () => playRecording(r.path));
      li.append(button);
      return li;
    }),
  );
}

function playRecording(path) {
  stopPlayer();
  recording = path;
  document.body.classList.add('replay');
  $('back-live').hidden = false;
  video.controls = true;
  video.src = withToken(`/recordings/${path.split('/').map(encodeURIComponent).join('/')}`);
  setState('');
  for (const b of $('recording-list').querySelectorAll('button')) b.setAttribute('aria-current', String(b.dataset.path === path));
  startPlayback(generation);
}

function leaveRecording() {
  if (!recording) return;
  recording = null;
  document.body.classList.remove('replay');
  $('back-live').hidden = true;
  video.controls = false;
  video.removeAttribute('src');
  video.load();
  for (const b of $('recording-list').querySelectorAll('button')) b.setAttribute('aria-current', 'false');
}

function backToLive() {
  leaveRecording();
  setState('Connecting…');
  startPlayer();
}

$('back-live').addEventListener('click', backToLive);
$('recordings').addEventListener('toggle', () => {
  if ($('recordings').open) refreshRecordings();
});
video.addEventListener('error', () => {
  if (recording) setState('Cannot play this recording');
});

// ---- controls ----

function togglePlay() {
  if (video.paused) video.play().catch(() => {});
  else video.pause();
}

function toggleMute() {
  video.muted = !video.muted;
  $('unmute').hidden = true;
}

function goLive() {
  if (recording) return backToLive();
  current?.player.jumpToLive();
  video.play().catch(() => {});
}

function toggleFullscreen() {
  if (document.fullscreenElement) document.exitFullscreen();
  else $('player').requestFullscreen?.();
}

function toggleStats() {
  const overlay = $('overlay');
  overlay.hidden = !overlay.hidden;
  $('stats-toggle').setAttribute('aria-pressed', String(!overlay.hidden));
}

$('play').addEventListener('click', togglePlay);
$('mute').addEventListener('click', toggleMute);
$('unmute').addEventListener('click', toggleMute);
$('volume').addEventListener('input', (e) => {
  video.volume = Number(e.target.value);
  if (video.volume > 0) video.muted = false;
});
$('live').addEventListener('click', goLive);
$('fullscreen').addEventListener('click', toggleFullscreen);
$('stats-toggle').addEventListener('click', toggleStats);
function togglePip() {
  if (!document.pictureInPictureEnabled) return;
  const request = document.pictureInPictureElement ? document.exitPictureInPicture() : video.requestPictureInPicture();
  request.catch(() => {}); // e.g. no metadata yet
}

if (document.pictureInPictureEnabled) {
  $('pip').hidden = false;
  $('pip').addEventListener('click', togglePip);
}
video.addEventListener('play', syncControls);
video.addEventListener('pause', syncControls);
video.addEventListener('volumechange', syncControls);

// Icons drawn inline: emoji and symbol glyphs are missing from many systems' fonts.
const ICONS = {
  play: '<path d="M8 5v14l11-7z"/>',
  pause: '<path d="M6 5h4v14H6zm8 0h4v14h-4z"/>',
  sound: '<path d="M3 9v6h4l5 5V4L7 9z"/><path d="M15 8.5a5 5 0 0 1 0 7M17.5 6a8.5 8.5 0 0 1 0 12" fill="none" stroke="currentColor" stroke-width="2"/>',
  muted: '<path d="M3 9v6h4l5 5V4L7 9z"/><path d="M15 9l6 6M21 9l-6 6" fill="none" stroke="currentColor" stroke-width="2"/>',
  fullscreen: '<path d="M4 9V4h5M15 4h5v5M20 15v5h-5M9 20H4v-5" fill="none" stroke="currentColor" stroke-width="2"/>',
};

function setIcon(button, name) {
  if (button.dataset.icon === name) return;
  button.dataset.icon = name;
  button.innerHTML = `<svg viewBox="0 0 24 24" width="18" height="18" fill="currentColor" aria-hidden="true">${ICONS[name]}</svg>`;
}

function syncControls() {
  setIcon($('play'), video.paused ? 'play' : 'pause');
  $('play').setAttribute('aria-label', video.paused ? 'Play' : 'Pause');
  setIcon($('mute'), video.muted || video.volume === 0 ? 'muted' : 'sound');
  $('mute').setAttribute('aria-label', video.muted ? 'Unmute' : 'Mute');
}

document.addEventListener('keydown', (e) => {
  if (e.target instanceof HTMLInputElement || e.ctrlKey || e.metaKey || e.altKey) return;
  const actions = { k: togglePlay, ' ': togglePlay, m: toggleMute, f: toggleFullscreen, s: toggleStats, l: goLive, p: togglePip };
  const action = actions[e.key];
  if (action && !(e.key === ' ' && e.target instanceof HTMLButtonElement)) {
    e.preventDefault();
    action();
  }
});

// ---- statistics overlay and chart ----

function fmt(value, digits, unit) {
  return Number.isFinite(value) ? `${value.toFixed(digits)}${unit}` : '–';
}

function tick() {
  if (current) {
    const s = current.player.stats() || {};
    const behind = s.latency > 1.5;
    $('live').classList.toggle('at-edge', !behind);
    const rows = [
      ['latency', fmt(s.latency, 2, ' s')],
      ['buffered', fmt(s.buffered, 2, ' s')],
      ['bitrate', fmt(s.bitrate / 1000, 0, ' kb/s')],
      ['fps', fmt(s.fps, 1, '')],
      ['frames', `${s.decodedFrames ?? '–'} decoded / ${s.droppedFrames ?? '–'} dropped`],
      ['size', pictureSize(s)],
      ['codecs', (s.codecs || []).join(', ') || '–'],
      ['reconnects', String(s.reconnects ?? 0)],
      // Time spent waiting or seeking while meant to play, and the jumps that got it going.
      ['stuck', fmt(s.stuckMs / 1000, 1, ' s')],
      ['recoveries', `${s.recoveries ?? 0} (${s.gapsFilled ?? 0} audio holes filled)`],
    ];
    showStats(rows);
    const now = performance.now() / 1000;
    samples.push({ t: now, latency: s.latency, bitrate: s.bitrate });
    samples = samples.filter((x) => now - x.t <= CHART_SECONDS);
    if (!$('overlay').hidden) drawChart(now);
  }
  setTimeout(tick, 1000);
}

// The picture's size: the <video>'s, or that of the canvas the WebCodecs renderer draws
// on in its place, once it has pictures (it sizes the canvas to each; before, the
// canvas has the default 300×150).
function pictureSize(s) {
  const canvas = video.parentElement?.querySelector('canvas[data-flashless="webcodecs"]');
  const [w, h] = video.videoWidth
    ? [video.videoWidth, video.videoHeight]
    : s.decodedFrames > 0 && canvas ? [canvas.width, canvas.height] : [];
  return w && h ? `${w}×${h}` : '–';
}

// The rows are made once per channel and their text changed in place, and only where
// it changed: the page updates them every second while it plays, shown or not.
function showStats(rows) {
  const list = $('stats');
  for (const [k, v] of rows) {
    let dd = list.querySelector(`dd[data-stat="${k}"]`);
    if (!dd) {
      const dt = document.createElement('dt');
      dt.textContent = k;
      dd = document.createElement('dd');
      dd.dataset.stat = k;
      list.append(dt, dd);
    }
    if (dd.textContent !== v) dd.textContent = v;
  }
}

function drawChart(now) {
  const canvas = $('chart');
  const g = canvas.getContext('2d');
  g.clearRect(0, 0, canvas.width, canvas.height);
  const line = (key, color) => {
    const values = samples.map((s) => s[key]).filter(Number.isFinite);
    const max = Math.max(...values, key === 'latency' ? 2 : 1);
    g.strokeStyle = color;
    g.beginPath();
    samples.forEach((s, i) => {
      if (!Number.isFinite(s[key])) return;
      const x = canvas.width * (1 - (now - s.t) / CHART_SECONDS);
      const y = canvas.height * (1 - s[key] / max);
      if (i === 0) g.moveTo(x, y);
      else g.lineTo(x, y);
    });
    g.stroke();
  };
  line('latency', '#e5484d');
  line('bitrate', '#3dd68c');
}

// Hidden tabs: the player jumps to the live edge itself on return, and leaves a video
// the viewer paused paused.

setIcon($('fullscreen'), 'fullscreen');
syncControls();
// The player's wasm, compiling since the page's head (`flashlessWasm`), is
// instantiated while the channel list loads; `Player.create` awaits it (and retries a
// failed load).
init(window.flashlessWasm).catch(() => {});
refreshChannels();
watch(routeName());
tick();
