// `GET /play/<stream>` on the LB: hls.js (served from the package at /assets/hls.min.js) playing the
// stream through the LB. After the 302, hls.js resolves every relative URI against the edge, so it
// stays there even when the edge dies (hls.js #1099); the page therefore starts over from the LB URL,
// with a fresh query so neither the browser nor a cache replays the old redirect. `?src=` plays another
// URL through the LB instead, e.g. a signed one (`cascade sign --player`, docs/access.md).
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { Hono } from 'hono';
import { isValidStreamName } from '../src/stream-path.js';

const HLS_JS_PATH = createRequire(import.meta.url).resolve('hls.js/dist/hls.min.js');

/** JSON inside <script>: `<` escaped so a value can never close the element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

function playerPage(stream: string, src?: string): string {
  const recording = { relive: `/hls/${stream}/_relive/index.m3u8`, dvr: `/hls/${stream}/_dvr/index.m3u8`, probe: `/hls/${stream}/_relive/0.m3u8` };
  const config = { stream, src: src || `/hls/${stream}/index.m3u8`, recording };
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cascade player: ${stream}</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; background: #111; color: #eee; }
  video { width: 100%; max-width: 960px; background: #000; display: block; }
  dl { display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; }
  dt { color: #aaa; } dd { margin: 0; font-variant-numeric: tabular-nums; }
  #presence { max-width: 960px; padding: 3rem 0; text-align: center; font-size: 1.4rem; background: #222; }
  [hidden] { display: none; }
</style>
</head>
<body>
<h1>${stream}</h1>
<div id="presence" hidden></div>
<video id="video" muted autoplay playsinline controls></video>
<dl>
  <dt>served by</dt><dd id="served-by">-</dd>
  <dt>edge URL</dt><dd id="edge-url">-</dd>
  <dt>mode</dt><dd id="mode">-</dd>
  <dt>latency</dt><dd id="latency">-</dd>
  <dt>buffer</dt><dd id="buffer">-</dd>
  <dt>rendition</dt><dd id="rendition">-</dd>
  <dt>state</dt><dd id="state">starting</dd>
  <dt>recoveries</dt><dd id="recoveries">0</dd>
</dl>
<input id="seek" type="range" min="0" max="0" step="0.1" hidden style="width: 100%; max-width: 960px">
<p id="recording" hidden>recorded: <a id="relive-link" hidden>watch the whole event again (relive)</a> <a id="dvr-link" hidden>play with DVR (seek back)</a></p>
<script src="/assets/hls.min.js"></script>
<script>
const config = ${scriptJson(config)};
const video = document.getElementById('video');
const show = (id, text) => { document.getElementById(id).textContent = text; };
const player = window.cascadePlayer = {
  currentTime: 0, servedBy: null, edgeUrl: null, latency: null, buffer: 0, level: -1, rendition: null,
  lowLatency: false, partTarget: null, canBlockReload: false, behindLiveEdge: null, targetLatency: null,
  recoveries: 0, fatalErrors: 0, errors: 0, state: 'starting', lastError: null,
};
// Network errors in a row with no fragment loaded between them: the edge is gone even if hls.js has
// not yet given up with a fatal error.
const ERRORS_BEFORE_RECOVERY = 3;
let hls;
let attempt = 0;
let errorStreak = 0;
let restarting = false;

function lbUrl() {
  const url = new URL(config.src, location.href);
  if (attempt > 0) url.searchParams.set('_cascade', Date.now().toString(36) + '.' + attempt);
  return url.href;
}

function header(details, name) {
  if (!details) return null;
  if (typeof details.getResponseHeader === 'function') return details.getResponseHeader(name);
  return details.headers && typeof details.headers.get === 'function' ? details.headers.get(name) : null;
}

function noteResponse(details) {
  const by = header(details, 'X-Served-By');
  if (by && by !== player.servedBy) { player.servedBy = by; show('served-by', by); }
  const url = details && (details.responseURL || details.url);
  if (url) {
    const origin = new URL(url).origin;
    if (origin !== player.edgeUrl) { player.edgeUrl = origin; show('edge-url', origin); }
  }
}

function noteMode(details) {
  const partTarget = details && details.partTarget ? details.partTarget : null;
  const canBlockReload = !!(details && details.canBlockReload);
  if (partTarget === player.partTarget && canBlockReload === player.canBlockReload) return;
  player.partTarget = partTarget;
  player.canBlockReload = canBlockReload;
  player.lowLatency = partTarget !== null;
  show('mode', partTarget === null ? 'HLS' : 'low latency: parts ' + partTarget + ' s' + (canBlockReload ? ', blocking reloads' : ''));
}

function setState(state) { player.state = state; show('state', state); }

function restart(reason) {
  if (restarting) return;
  // The stream ended or is gone: wait for it (followPresence) instead of retrying the edges.
  if (player.presence === 'ended' || player.presence === 'absent') { stop(); return; }
  restarting = true;
  player.recoveries++;
  player.lastError = reason;
  show('recoveries', player.recoveries);
  setState('recovering: ' + reason);
  hls.destroy();
  attempt++;
  // Back off while the LB has not yet noticed the edge is down and sends us to it again.
  const delay = Math.min(500 * attempt, 4000);
  setTimeout(() => { restarting = false; if (PRESENCE_TEXT[player.presence] === undefined) start(); }, delay);
  void followPresence();
}

const loadPolicy = {
  default: {
    maxTimeToFirstByteMs: 4000, maxLoadTimeMs: 10000,
    timeoutRetry: { maxNumRetry: 1, retryDelayMs: 0, maxRetryDelayMs: 0 },
    errorRetry: { maxNumRetry: 2, retryDelayMs: 300, maxRetryDelayMs: 1000 },
  },
};

function start() {
  // lowLatencyMode: parts, preload hints and blocking reloads when the playlists have them (EXT-X-PART-INF);
  // plain HLS streams play as before. A player that fell behind its target latency (a start on a busy
  // machine, a stall) plays up to 1.5x until it is back: without it, every stall adds latency for good.
  hls = new Hls({ lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5, fragLoadPolicy: loadPolicy, playlistLoadPolicy: loadPolicy, manifestLoadPolicy: loadPolicy });
  hls.on(Hls.Events.MANIFEST_LOADED, (_e, data) => noteResponse(data.networkDetails));
  hls.on(Hls.Events.LEVEL_LOADED, (_e, data) => {
    noteResponse(data.networkDetails);
    noteMode(data.details);
  });
  hls.on(Hls.Events.FRAG_LOADED, (_e, data) => {
    errorStreak = 0;
    attempt = 0;
    noteResponse(data.networkDetails);
  });
  hls.on(Hls.Events.MANIFEST_PARSED, () => { video.play().catch(() => {}); });
  hls.on(Hls.Events.LEVEL_SWITCHED, (_e, data) => {
    const level = hls.levels[data.level];
    player.level = data.level;
    player.rendition = level ? (level.height ? level.height + 'p' : '') + ' ' + Math.round(level.bitrate / 1000) + ' kb/s' : null;
    show('rendition', player.rendition || '-');
  });
  hls.on(Hls.Events.ERROR, (_e, data) => {
    player.errors++;
    if (data.fatal) {
      player.fatalErrors++;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) { hls.recoverMediaError(); return; }
      restart(data.details);
      return;
    }
    if (data.type === Hls.ErrorTypes.NETWORK_ERROR && ++errorStreak >= ERRORS_BEFORE_RECOVERY) restart(data.details);
  });
  hls.loadSource(lbUrl());
  hls.attachMedia(video);
  setState('loading');
}

// Recordings (origin --record, docs/relive.md): relive is offered once the stream has ended, DVR while
// it is live; a recording's playlist gets a seek bar over what the player can seek.
player.recording = 'unknown';
player.seekable = null;
const seek = document.getElementById('seek');
const fromRecording = config.src.includes('/_dvr/') || config.src.includes('/_relive/');
seek.addEventListener('input', () => { video.currentTime = Number(seek.value); });
for (const [id, src] of [['relive-link', config.recording.relive], ['dvr-link', config.recording.dvr]]) {
  document.getElementById(id).href = '?src=' + encodeURIComponent(src);
}
function checkRecording() {
  fetch(config.recording.probe, { cache: 'no-store' }).then((r) => (r.ok ? r.text() : '')).then((text) => {
    const state = text === '' ? 'none' : text.includes('#EXT-X-ENDLIST') ? 'ended' : 'live';
    player.recording = state;
    document.getElementById('recording').hidden = state === 'none' || fromRecording;
    document.getElementById('relive-link').hidden = state !== 'ended';
    document.getElementById('dvr-link').hidden = state !== 'live';
  }).catch(() => {});
}
checkRecording();
setInterval(checkRecording, 5000);

video.addEventListener('playing', () => setState('playing'));
video.addEventListener('waiting', () => setState('buffering'));

setInterval(() => {
  player.currentTime = video.currentTime;
  let ahead = 0;
  for (let i = 0; i < video.buffered.length; i++) {
    if (video.buffered.start(i) <= video.currentTime && video.currentTime <= video.buffered.end(i)) ahead = video.buffered.end(i) - video.currentTime;
  }
  player.buffer = ahead;
  if (fromRecording && video.seekable.length > 0) {
    const from = video.seekable.start(0);
    const to = video.seekable.end(video.seekable.length - 1);
    player.seekable = [from, to];
    seek.hidden = false;
    seek.min = String(from);
    seek.max = String(to);
    if (document.activeElement !== seek) seek.value = String(video.currentTime);
  }
  show('buffer', ahead.toFixed(1) + ' s');
  // Glass to player by EXT-X-PROGRAM-DATE-TIME, as good as the stream's PDT: in cascade stack it runs
  // late, so this reads low (docs/low-latency.md, section 6).
  const date = hls && hls.playingDate;
  player.latency = date ? (Date.now() - date.getTime()) / 1000 : null;
  // hls.js's own view, without PDT: how far behind the playlist's live edge it plays, and where it aims.
  player.behindLiveEdge = hls && Number.isFinite(hls.latency) ? hls.latency : null;
  player.targetLatency = hls && Number.isFinite(hls.targetLatency) ? hls.targetLatency : null;
  show('latency', player.latency === null ? '-' : player.latency.toFixed(1) + ' s');
}, 250);

function play() {
  if (window.Hls && Hls.isSupported()) start();
  else if (video.canPlayType('application/vnd.apple.mpegurl')) { video.src = lbUrl(); setState('native HLS'); }
  else setState('HLS is not supported in this browser');
}

function stop() {
  if (hls) { hls.destroy(); hls = undefined; }
  restarting = false;
}

// The stream's existence (the LB's /api/streams/<name>, from the origin): the page waits with "not live
// yet" or "ended", asking every 2-3 s, and starts playback by itself when the stream goes live. While it
// plays it asks only when playback ends or recovers from an error, so thousands of players cost the LB
// nothing. Unknown (the LB has no origin to ask, or it is unreachable): play as if live.
const PRESENCE_TEXT = { absent: 'not live yet', stalled: 'not live yet', ended: 'ended' };
player.presence = null;
let presenceTimer;
async function followPresence() {
  clearTimeout(presenceTimer);
  let next = 'unknown';
  try {
    const res = await fetch('/api/streams/' + encodeURIComponent(config.stream), { cache: 'no-store' });
    if (res.ok) next = (await res.json()).state;
  } catch {}
  const waiting = player.presence === null || PRESENCE_TEXT[player.presence] !== undefined;
  // Playing: a stall is the player's to recover from, and an ended stream plays out what is left.
  if (!waiting && hls && !restarting && !video.ended && (next === 'stalled' || next === 'ended')) next = player.presence;
  player.presence = next;
  const text = PRESENCE_TEXT[next];
  const box = document.getElementById('presence');
  box.hidden = text === undefined;
  video.hidden = text !== undefined;
  if (text !== undefined) {
    box.textContent = text;
    stop();
    setState(text);
    presenceTimer = setTimeout(followPresence, 2000 + Math.random() * 1000);
  } else if (waiting) {
    attempt = 0;
    play();
  }
}
video.addEventListener('ended', () => void followPresence());
followPresence();
</script>
</body>
</html>
`;
}

/** `/play/<stream>` and the hls.js it loads (read from the package once, on first use). */
export function playerRoutes(): Hono {
  const routes = new Hono();
  routes.get('/play/:stream', (c) => {
    const stream = c.req.param('stream');
    if (!isValidStreamName(stream)) return c.text('bad stream name\n', 400);
    return c.html(playerPage(stream, c.req.query('src')), 200, { 'Cache-Control': 'no-store' });
  });
  let hlsJs: Promise<Buffer> | undefined;
  routes.get('/assets/hls.min.js', async (c) => {
    hlsJs ??= readFile(HLS_JS_PATH);
    return c.body(new Uint8Array(await hlsJs), 200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'public, max-age=3600' });
  });
  return routes;
}
