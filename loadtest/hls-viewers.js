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
//   hls_segment_responses       one per media response (segment, part, init), tags edge, cache (X-Cache first word), seg (path):
//                               loadtest/run.ts derives the coalescing factor from it
//
// LL=1: every virtual user is an LL-HLS player (draft-pantos-hls-rfc8216bis, as hls.js lowLatencyMode):
// after one plain load it starts PART-HOLD-BACK behind the live edge, then, for each part, makes a
// blocking reload for the next part (_HLS_msn/_HLS_part, through the playlist's URL: the LB's 302 when
// masters name their variants through it) and downloads every new part once. Metrics of that mode:
//   hls_parts                   parts downloaded
//   hls_part_download_time      ms per part
//   hls_ll_blocking_reload_time ms per blocking reload (about a part target: the edge holds it)
//   hls_ll_latency              ms from a part's PDT (its segment's EXT-X-PROGRAM-DATE-TIME plus the parts
//                               before it) to the end of its download: glass to viewer by PDT, before the
//                               PART-HOLD-BACK a player keeps (the segment's PDT is extrapolated for the
//                               one being written)
//   hls_ll_rendition_reports    EXT-X-RENDITION-REPORTs read; hls_ll_rendition_report_lag: per reload, the most
//                               segments between a report's LAST-MSN and this playlist's last part
//   hls_stalls                  also: the viewer's buffer ran dry (it starts with the parts PART-HOLD-BACK
//                               behind the live edge and plays in real time from the first part; a stall
//                               is counted once per episode, and playback waits for the next part)
// Thresholds fail the run (k6 exits 99) on any stall or error, or when no segment (LL: part) was played.
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
const LL = ['1', 'true', 'yes'].includes(String(__ENV.LL || '').toLowerCase());
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
    ...(LL ? { hls_parts: ['count>0'] } : { hls_segments: ['count>0'] }),
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
const parts = new Counter('hls_parts');
const partTime = new Trend('hls_part_download_time', true);
const blockingTime = new Trend('hls_ll_blocking_reload_time', true);
const llLatency = new Trend('hls_ll_latency', true);
const reports = new Counter('hls_ll_rendition_reports');
const reportLag = new Trend('hls_ll_rendition_report_lag');

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

/** URIs resolved per base (without its query: blocking reloads change it) and reference, as each reload lists mostly the same ones; bounded. */
const resolved = new Map();

function resolveListed(base, ref) {
  const q = base.indexOf('?');
  const key = `${q === -1 ? base : base.slice(0, q)} ${ref}`;
  let url = resolved.get(key);
  if (url === undefined) {
    if (resolved.size >= 1024) resolved.clear();
    url = resolve(base, ref);
    resolved.set(key, url);
  }
  return url;
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

/** One compiled pattern per attribute name: k6's JS engine compiles a RegExp slowly, and LL reloads read many. */
const attrPatterns = {};

/** A quoted or plain attribute of a tag line (`NAME=value` or `NAME="value"`). */
function attr(line, name) {
  const re = attrPatterns[name] || (attrPatterns[name] = new RegExp(`(?:^|[:,])${name}=("([^"]*)"|[^,]*)`));
  const m = re.exec(line);
  return m ? (m[2] !== undefined ? m[2] : m[1]) : undefined;
}

/**
 * A media playlist: segments (with PDT where listed), and for LL-HLS its parts (each with the segment it
 * belongs to, its index there and its PDT), PART-TARGET, PART-HOLD-BACK, the rendition reports, and the
 * next part to ask for in a blocking reload (the segment being written and its count of parts).
 */
export function parseMedia(text, base) {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  let targetDuration = 0;
  let msn = 0;
  let ended = false;
  let map;
  let duration = null;
  let pdt = null;
  let partTarget = 0;
  let partHoldBack = 0;
  let pending = [];
  const segs = [];
  const partList = [];
  const renditionReports = [];
  for (const l of lines) {
    if (l.startsWith('#EXT-X-TARGETDURATION:')) targetDuration = Number(l.slice(22));
    else if (l.startsWith('#EXT-X-MEDIA-SEQUENCE:')) msn = Number(l.slice(22));
    else if (l.startsWith('#EXT-X-ENDLIST')) ended = true;
    else if (l.startsWith('#EXT-X-MAP:')) { const u = /URI="([^"]+)"/.exec(l); if (u) map = resolveListed(base, u[1]); }
    else if (l.startsWith('#EXTINF:')) duration = parseFloat(l.slice(8));
    else if (l.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) pdt = Date.parse(l.slice(25));
    else if (l.startsWith('#EXT-X-PART-INF:')) partTarget = Number(attr(l, 'PART-TARGET')) || 0;
    else if (l.startsWith('#EXT-X-SERVER-CONTROL:')) partHoldBack = Number(attr(l, 'PART-HOLD-BACK')) || 0;
    else if (l.startsWith('#EXT-X-PART:')) pending.push({ duration: Number(attr(l, 'DURATION')) || 0, url: resolveListed(base, attr(l, 'URI') || ''), map });
    else if (l.startsWith('#EXT-X-RENDITION-REPORT:')) renditionReports.push({ uri: attr(l, 'URI'), lastMsn: Number(attr(l, 'LAST-MSN')), lastPart: Number(attr(l, 'LAST-PART')) });
    else if (l !== '' && !l.startsWith('#')) {
      const seg = { seq: msn + segs.length, duration: duration == null ? targetDuration : duration, url: resolveListed(base, l), map, pdt: Number.isFinite(pdt) ? pdt : undefined };
      segs.push(seg);
      addParts(partList, pending, seg.seq, seg.pdt);
      pending = [];
      duration = null;
      pdt = null;
    }
  }
  // The parts of the segment being written; its PDT follows the last listed segment's.
  const last = segs[segs.length - 1];
  const writing = msn + segs.length;
  addParts(partList, pending, writing, last && last.pdt !== undefined ? last.pdt + last.duration * 1000 : undefined);
  return { targetDuration, msn, ended, segs, parts: partList, partTarget, partHoldBack, renditionReports, next: { msn: writing, part: pending.length } };
}

function addParts(list, pending, seq, pdt) {
  let offset = 0;
  pending.forEach((p, index) => {
    list.push({ ...p, seq, index, pdt: pdt === undefined ? undefined : pdt + offset });
    offset += p.duration * 1000;
  });
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

/** GETs a media object (segment, part, init), timed and counted in hls_segment_responses with its X-Cache. */
function getMedia(url, name) {
  const t0 = Date.now();
  const res = http.get(url, { tags: { name }, responseType: 'none' });
  const took = Date.now() - t0;
  const edge = edgeOf(res);
  segmentResponses.add(1, { edge, cache: String(res.headers['X-Cache'] || 'none').split(/[\s,;]/)[0], seg: pathOf(res.url) });
  return { res, took, edge };
}

/** Loads an init segment (EXT-X-MAP) once per session; false (after a pause) when it failed. */
function loadInit(map, mapDone) {
  if (!map || mapDone[map]) return true;
  const { res } = getMedia(map, 'init');
  if (res.status !== 200) { fail(res, 'init'); sleep(1); return false; }
  mapDone[map] = true;
  return true;
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
  if (LL) { llSession(mediaUrl, edge, end, started); return; }

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
      if (!loadInit(seg.map, mapDone)) return;
      const { res: s, took, edge: segEdge } = getMedia(seg.url, 'segment');
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

/** Parts already downloaded, by URL, the oldest forgotten first (bounded). */
function remember(seen, url) {
  seen.set(url, true);
  if (seen.size > 256) seen.delete(seen.keys().next().value);
}

/**
 * What a player holds: media seconds downloaded against seconds played since playback began (with the
 * first part). Playback waits while the buffer is empty, as a player's does: one stall per episode.
 */
function playback(edge) {
  let buffered = 0;
  let startedAt = 0;
  let dry = false;
  return {
    add(seconds) {
      if (startedAt === 0) startedAt = Date.now();
      buffered += seconds;
    },
    check() {
      if (startedAt === 0) return;
      const played = (Date.now() - startedAt) / 1000;
      if (played <= buffered) { dry = false; return; }
      if (!dry) stalls.add(1, { edge, kind: 'buffer' });
      dry = true;
      startedAt += (played - buffered) * 1000;
    },
  };
}

/** One LL-HLS viewing session (LL=1): see the top of the file. */
function llSession(mediaUrl, edge, end, started) {
  let res = http.get(mediaUrl, { tags: { name: 'playlist' } });
  if (res.status !== 200) { fail(res, 'playlist'); sleep(1); return; }
  let pl = parseMedia(res.body, res.url);
  if (!pl.partTarget) { fail(res, 'no_parts'); sleep(1); return; }
  const seen = new Map();
  const mapDone = {};
  const player = playback(edge);
  // Like hls.js: start PART-HOLD-BACK behind the live edge.
  const holdBack = pl.partHoldBack || 3 * pl.partTarget;
  for (const p of pl.parts.slice(0, Math.max(0, pl.parts.length - Math.ceil(holdBack / pl.partTarget)))) remember(seen, p.url);
  let first = true;
  const sep = mediaUrl.includes('?') ? '&' : '?';
  while (Date.now() < end) {
    for (const p of pl.parts) {
      if (seen.has(p.url)) continue;
      if (Date.now() >= end) return;
      if (!loadInit(p.map, mapDone)) return;
      const { res: r, took, edge: partEdge } = getMedia(p.url, 'part');
      if (r.status !== 200) { fail(r, 'part'); sleep(1); return; }
      remember(seen, p.url);
      parts.add(1, { edge: partEdge });
      partTime.add(took, { edge: partEdge });
      player.check();
      player.add(p.duration);
      if (p.pdt !== undefined) llLatency.add(Date.now() - p.pdt, { edge: partEdge });
      if (first) { timeToFirstSegment.add(Date.now() - started, { edge: partEdge }); first = false; }
    }
    const lastPart = pl.parts[pl.parts.length - 1];
    // One sample per reload, not per report: each metric sample costs the load generator, not the edge.
    if (pl.renditionReports.length > 0) {
      reports.add(pl.renditionReports.length, { edge });
      if (lastPart) reportLag.add(Math.max(...pl.renditionReports.map((r) => Math.abs(lastPart.seq - r.lastMsn))), { edge });
    }
    if (pl.ended) return;
    const asked = Date.now();
    res = http.get(`${mediaUrl}${sep}_HLS_msn=${pl.next.msn}&_HLS_part=${pl.next.part}`, { tags: { name: 'blocking' } });
    if (res.status !== 200) { fail(res, 'blocking'); sleep(1); return; }
    blockingTime.add(Date.now() - asked, { edge });
    player.check();
    pl = parseMedia(res.body, res.url);
  }
}
