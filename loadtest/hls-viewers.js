// k6 script: every virtual user is a live-HLS player.
//
//   LB_URL=http://127.0.0.1:8080 STREAM=demo VIEWERS=50 RAMP=10s DURATION=60s RENDITION=random \
//     .tools/bin/k6 run loadtest/hls-viewers.js
//
// A player asks the LB for the master playlist (k6 follows the 302 to an edge; the edge is taken from
// `X-Served-By`, or the final URL's host:port), picks a rendition (RENDITION=lowest|highest|random), then
// reloads the media playlist at the pace of RFC 8216 6.3.4 (one target duration after the start of a
// load that found the playlist changed, half of it when it did not) and downloads every new segment once,
// starting like hls.js three segments from the live edge. Relative URIs resolve against the edge, so the
// player stays on its edge, as real players do.
//
// Custom metrics (all tagged, see README):
//   hls_time_to_first_segment   ms from the master request to the end of the first segment download
//   hls_segment_download_time   ms per segment
//   hls_segment_download_ratio  download time / EXTINF duration; > 1 is slower than real time
//   hls_stalls                  segments that took longer than their duration (a player would stall)
//   hls_playlist_age            ms since the newest segment in the playlist last advanced (per reload)
//   hls_playlist_stale          episodes of the newest segment not advancing for > STALE_TDS target durations
//   hls_redirects               master requests redirected to an edge, tag edge
//   hls_errors                  failed requests, tags status (0 = network error) and kind
//   hls_segments                segments downloaded
//   hls_segment_responses       one per segment response, tags edge, cache (X-Cache first word), seg (path):
//                               loadtest/run.ts derives the coalescing factor from it
// Thresholds fail the run (k6 exits 99) on any stall or error, or when no segment was played.
import http from 'k6/http';
import { sleep } from 'k6';
import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';

const LB_URL = (__ENV.LB_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const STREAM = __ENV.STREAM || 'demo';
const VIEWERS = Math.max(1, parseInt(__ENV.VIEWERS || '10', 10));
const RAMP = seconds(__ENV.RAMP || '10s');
const DURATION = seconds(__ENV.DURATION || '30s');
const RENDITION = (__ENV.RENDITION || 'random').toLowerCase();
const STALE_TDS = Number(__ENV.STALE_TDS || '3');
const START_SEGMENTS = Math.max(1, parseInt(__ENV.START_SEGMENTS || '3', 10));
if (!['lowest', 'highest', 'random'].includes(RENDITION)) throw new Error(`RENDITION must be lowest|highest|random, got ${RENDITION}`);

export const options = {
  scenarios: {
    viewers: RAMP > 0
      ? { executor: 'ramping-vus', startVUs: 0, stages: [{ duration: `${RAMP}s`, target: VIEWERS }, { duration: `${DURATION}s`, target: VIEWERS }], gracefulRampDown: '5s', gracefulStop: '5s' }
      : { executor: 'constant-vus', vus: VIEWERS, duration: `${DURATION}s`, gracefulStop: '5s' },
  },
  thresholds: {
    hls_stalls: ['count<1'],
    hls_errors: ['count<1'],
    hls_segments: ['count>0'],
  },
  discardResponseBodies: false,
  // Segment URLs are unique per segment; the `name` tag groups them in k6's own http_* metrics.
  systemTags: ['status', 'method', 'name', 'group', 'scenario', 'error_code', 'expected_response'],
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

const timeToFirstSegment = new Trend('hls_time_to_first_segment', true);
const segmentTime = new Trend('hls_segment_download_time', true);
const segmentRatio = new Trend('hls_segment_download_ratio');
const playlistAge = new Trend('hls_playlist_age', true);
const stalls = new Counter('hls_stalls');
const stale = new Counter('hls_playlist_stale');
const redirects = new Counter('hls_redirects');
const errors = new Counter('hls_errors');
const segments = new Counter('hls_segments');
const segmentResponses = new Counter('hls_segment_responses');
const skipped = new Counter('hls_segments_skipped');

function seconds(v) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(String(v).trim());
  if (!m) throw new Error(`not a duration: ${v}`);
  const n = Number(m[1]);
  return { ms: n / 1000, s: n, m: n * 60, h: n * 3600 }[m[2] || 's'];
}

/** Resolves a playlist URI against the URL the playlist came from (RFC 3986, the cases HLS uses). */
export function resolve(base, ref) {
  if (/^[a-z][a-z0-9+.-]*:/i.test(ref)) return ref;
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]*)([^?#]*)/i.exec(base);
  if (!m) return ref;
  if (ref.startsWith('//')) return base.slice(0, base.indexOf(':') + 1) + ref;
  if (ref.startsWith('/')) return m[1] + ref;
  const dir = m[2].slice(0, m[2].lastIndexOf('/') + 1) || '/';
  const parts = [];
  for (const p of (dir + ref).split('?')[0].split('/')) {
    if (p === '..') parts.pop(); else if (p !== '.') parts.push(p);
  }
  const q = ref.indexOf('?');
  return m[1] + parts.join('/') + (q >= 0 ? ref.slice(q) : '');
}

function hostOf(url) {
  const m = /^[a-z]+:\/\/([^/?#]+)/i.exec(url);
  return m ? m[1] : 'unknown';
}

function edgeOf(res) {
  return res.headers['X-Served-By'] || hostOf(res.url);
}

function pathOf(url) {
  const m = /^[a-z]+:\/\/[^/?#]+([^?#]*)/i.exec(url);
  return m ? m[1] : url;
}

export function parseMaster(text, base) {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  const variants = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].startsWith('#EXT-X-STREAM-INF:')) continue;
    const bw = /(?:^|[:,])BANDWIDTH=(\d+)/.exec(lines[i]);
    let j = i + 1;
    while (j < lines.length && (lines[j] === '' || lines[j].startsWith('#'))) j++;
    if (j < lines.length) variants.push({ bandwidth: bw ? Number(bw[1]) : 0, url: resolve(base, lines[j]) });
  }
  return variants;
}

export function parseMedia(text, base) {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  let targetDuration = 0;
  let msn = 0;
  let ended = false;
  let map;
  let duration = null;
  const segs = [];
  for (const l of lines) {
    if (l.startsWith('#EXT-X-TARGETDURATION:')) targetDuration = Number(l.slice(22));
    else if (l.startsWith('#EXT-X-MEDIA-SEQUENCE:')) msn = Number(l.slice(22));
    else if (l.startsWith('#EXT-X-ENDLIST')) ended = true;
    else if (l.startsWith('#EXT-X-MAP:')) { const u = /URI="([^"]+)"/.exec(l); if (u) map = resolve(base, u[1]); }
    else if (l.startsWith('#EXTINF:')) duration = parseFloat(l.slice(8));
    else if (l !== '' && !l.startsWith('#')) {
      segs.push({ seq: msn + segs.length, duration: duration == null ? targetDuration : duration, url: resolve(base, l), map });
      duration = null;
    }
  }
  return { targetDuration, msn, ended, segs };
}

function fail(res, kind) {
  errors.add(1, { status: String(res.status || 0), kind });
}

function pick(variants) {
  const sorted = variants.slice().sort((a, b) => a.bandwidth - b.bandwidth);
  if (RENDITION === 'lowest') return sorted[0];
  if (RENDITION === 'highest') return sorted[sorted.length - 1];
  return sorted[Math.floor(Math.random() * sorted.length)];
}

function sessionEnd() {
  return exec.scenario.startTime + (RAMP + DURATION) * 1000;
}

/** Sleeps until `at` (ms epoch) but never past the end of the run; false when the run is over. */
function waitUntil(at, end) {
  const until = Math.min(at, end);
  const ms = until - Date.now();
  if (ms > 0) sleep(ms / 1000);
  return Date.now() < end;
}

// One iteration = one viewing session that lasts until the end of the run. A session that breaks
// (an error) ends the iteration; k6 starts the next one, like a player reloading the page after 1 s.
export default function () {
  const end = sessionEnd();
  // A session that would start in the last second of the run (k6 starts a new iteration when the last
  // one returned at the end) would only inflate the master/redirect counts.
  if (Date.now() > end - 1000) { sleep(Math.max(0, end - Date.now()) / 1000 + 0.5); return; }
  stalls.add(0);
  errors.add(0);
  const started = Date.now();
  const masterUrl = `${LB_URL}/hls/${STREAM}/index.m3u8`;
  const master = http.get(masterUrl, { tags: { name: 'master' } });
  if (master.status !== 200) { fail(master, 'master'); sleep(1); return; }
  const edge = edgeOf(master);
  if (master.url !== masterUrl) redirects.add(1, { edge });

  let mediaUrl = master.url;
  const variants = parseMaster(master.body, master.url);
  if (variants.length > 0) mediaUrl = pick(variants).url;

  let newestSeq = -1;       // newest segment seen in the playlist
  let advancedAt = Date.now();
  let staleFlagged = false;
  let nextSeq = -1;         // next segment to download
  let mapDone = {};
  let first = true;
  while (Date.now() < end) {
    const loadStart = Date.now();
    const res = http.get(mediaUrl, { tags: { name: 'playlist' } });
    if (res.status !== 200) { fail(res, 'playlist'); sleep(1); return; }
    const pl = parseMedia(res.body, res.url);
    const td = pl.targetDuration > 0 ? pl.targetDuration : 2;
    const newest = pl.segs.length ? pl.segs[pl.segs.length - 1].seq : -1;
    const changed = newest > newestSeq;
    if (changed) {
      newestSeq = newest;
      advancedAt = loadStart;
      staleFlagged = false;
    } else if (!staleFlagged && loadStart - advancedAt > STALE_TDS * td * 1000) {
      stale.add(1, { edge });
      staleFlagged = true;
    }
    playlistAge.add(loadStart - advancedAt, { edge });

    if (nextSeq < 0 && pl.segs.length) nextSeq = pl.segs[Math.max(0, pl.segs.length - START_SEGMENTS)].seq;
    if (pl.segs.length && nextSeq < pl.segs[0].seq) {
      skipped.add(pl.segs[0].seq - nextSeq, { edge });
      nextSeq = pl.segs[0].seq;
    }
    for (const seg of pl.segs) {
      if (seg.seq < nextSeq) continue;
      if (Date.now() >= end) return;
      if (seg.map && !mapDone[seg.map]) {
        const init = http.get(seg.map, { tags: { name: 'init' }, responseType: 'none' });
        if (init.status !== 200) { fail(init, 'init'); sleep(1); return; }
        mapDone[seg.map] = true;
      }
      const t0 = Date.now();
      const s = http.get(seg.url, { tags: { name: 'segment' }, responseType: 'none' });
      const took = Date.now() - t0;
      const segEdge = edgeOf(s);
      segmentResponses.add(1, { edge: segEdge, cache: String(s.headers['X-Cache'] || 'none').split(/[\s,;]/)[0], seg: pathOf(s.url) });
      if (s.status !== 200) { fail(s, 'segment'); sleep(1); return; }
      segments.add(1, { edge: segEdge });
      segmentTime.add(took, { edge: segEdge });
      segmentRatio.add(seg.duration > 0 ? took / (seg.duration * 1000) : 0, { edge: segEdge });
      if (took > seg.duration * 1000) stalls.add(1, { edge: segEdge });
      if (first) { timeToFirstSegment.add(Date.now() - started, { edge: segEdge }); first = false; }
      nextSeq = seg.seq + 1;
    }
    if (pl.ended) return;
    if (!waitUntil(loadStart + (changed ? td : td / 2) * 1000, end)) return;
  }
}
