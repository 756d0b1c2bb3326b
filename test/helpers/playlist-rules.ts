// RFC 8216 (and draft-pantos-hls-rfc8216bis) rules for playlists the origin publishes, written apart from
// src/playlist.ts on purpose: the fuzz test checks the origin's output with it, and a check that shared
// the parser's code would share its mistakes. Returns every rule a playlist breaks, as sentences.
//
// `stream` rules are cascade's on top of the RFC: every URI is relative and stays inside the stream
// (the contract's path grammar), and a published sequence number is a safe integer.

const SAFE = Number.MAX_SAFE_INTEGER;
const INT = /^[0-9]+$/;
const FLOAT = /^[0-9]+(?:\.[0-9]+)?$/;
const SIGNED_FLOAT = /^-?[0-9]+(?:\.[0-9]+)?$/;
const PATH_SEGMENT = /^[A-Za-z0-9._-]+$/;

type Kind = 'int' | 'float' | 'signed-float' | 'quoted' | 'uri' | 'enum' | 'hex' | 'resolution' | 'byterange';

/** Attribute grammar of the tags whose values this validator reads (a subset of the RFC's, enough to check). */
const ATTRIBUTES: Record<string, Record<string, Kind>> = {
  'EXT-X-KEY': { METHOD: 'enum', URI: 'quoted', IV: 'hex', KEYFORMAT: 'quoted', KEYFORMATVERSIONS: 'quoted' },
  'EXT-X-SESSION-KEY': { METHOD: 'enum', URI: 'quoted', IV: 'hex', KEYFORMAT: 'quoted', KEYFORMATVERSIONS: 'quoted' },
  'EXT-X-MAP': { URI: 'uri', BYTERANGE: 'byterange' },
  'EXT-X-PART': { URI: 'uri', DURATION: 'float', BYTERANGE: 'byterange', INDEPENDENT: 'enum', GAP: 'enum' },
  'EXT-X-PRELOAD-HINT': { URI: 'uri', TYPE: 'enum', 'BYTERANGE-START': 'int', 'BYTERANGE-LENGTH': 'int' },
  'EXT-X-RENDITION-REPORT': { URI: 'uri', 'LAST-MSN': 'int', 'LAST-PART': 'int' },
  'EXT-X-SKIP': { 'SKIPPED-SEGMENTS': 'int' },
  'EXT-X-PART-INF': { 'PART-TARGET': 'float' },
  'EXT-X-SERVER-CONTROL': { 'CAN-SKIP-UNTIL': 'float', 'HOLD-BACK': 'float', 'PART-HOLD-BACK': 'float' },
  'EXT-X-START': { 'TIME-OFFSET': 'signed-float' },
  'EXT-X-DATERANGE': { ID: 'quoted', DURATION: 'float', 'PLANNED-DURATION': 'float', 'X-ASSET-URI': 'uri', 'X-ASSET-LIST': 'uri' },
  'EXT-X-MEDIA': { TYPE: 'enum', URI: 'uri', 'GROUP-ID': 'quoted', NAME: 'quoted' },
  'EXT-X-STREAM-INF': { BANDWIDTH: 'int', 'AVERAGE-BANDWIDTH': 'int', RESOLUTION: 'resolution', 'FRAME-RATE': 'float', CODECS: 'quoted' },
  'EXT-X-I-FRAME-STREAM-INF': { BANDWIDTH: 'int', 'AVERAGE-BANDWIDTH': 'int', URI: 'uri', RESOLUTION: 'resolution' },
  'EXT-X-SESSION-DATA': { 'DATA-ID': 'quoted', URI: 'uri' },
  'EXT-X-CONTENT-STEERING': { 'SERVER-URI': 'uri' },
};
const REQUIRED: Record<string, string[]> = {
  'EXT-X-MAP': ['URI'], 'EXT-X-KEY': ['METHOD'], 'EXT-X-PART': ['URI', 'DURATION'], 'EXT-X-PRELOAD-HINT': ['TYPE', 'URI'],
  'EXT-X-STREAM-INF': ['BANDWIDTH'], 'EXT-X-I-FRAME-STREAM-INF': ['BANDWIDTH', 'URI'], 'EXT-X-MEDIA': ['TYPE', 'GROUP-ID', 'NAME'],
};
const MEDIA_ONCE = ['EXT-X-VERSION', 'EXT-X-TARGETDURATION', 'EXT-X-MEDIA-SEQUENCE', 'EXT-X-DISCONTINUITY-SEQUENCE', 'EXT-X-PLAYLIST-TYPE',
  'EXT-X-ENDLIST', 'EXT-X-I-FRAMES-ONLY', 'EXT-X-INDEPENDENT-SEGMENTS', 'EXT-X-START', 'EXT-X-PART-INF', 'EXT-X-SERVER-CONTROL'];
const SEGMENT_ONCE = ['EXTINF', 'EXT-X-BYTERANGE', 'EXT-X-DISCONTINUITY', 'EXT-X-GAP', 'EXT-X-PROGRAM-DATE-TIME', 'EXT-X-MAP'];
const MASTER_ONLY = ['EXT-X-STREAM-INF', 'EXT-X-I-FRAME-STREAM-INF', 'EXT-X-MEDIA', 'EXT-X-SESSION-DATA', 'EXT-X-SESSION-KEY', 'EXT-X-CONTENT-STEERING'];
const MEDIA_ONLY = ['EXTINF', 'EXT-X-TARGETDURATION', 'EXT-X-MEDIA-SEQUENCE', 'EXT-X-DISCONTINUITY-SEQUENCE', 'EXT-X-ENDLIST', 'EXT-X-KEY',
  'EXT-X-MAP', 'EXT-X-BYTERANGE', 'EXT-X-DISCONTINUITY', 'EXT-X-GAP', 'EXT-X-PART', 'EXT-X-PRELOAD-HINT', 'EXT-X-PREFETCH'];

const nameOf = (line: string) => line.slice(1, line.includes(':') ? line.indexOf(':') : undefined);
const valueOf = (line: string) => (line.includes(':') ? line.slice(line.indexOf(':') + 1) : '');

/** Strict attribute-list reading; undefined when it is not one. */
function attributes(text: string): Map<string, { value: string; quoted: boolean }> | undefined {
  const out = new Map<string, { value: string; quoted: boolean }>();
  let rest = text;
  while (rest !== '') {
    const m = /^([A-Z0-9-]+)=(?:"([^"\r\n]*)"|([^",\s]+))(?:,(?=.)|$)/.exec(rest);
    if (!m || out.has(m[1]!)) return undefined;
    out.set(m[1]!, m[2] !== undefined ? { value: m[2], quoted: true } : { value: m[3]!, quoted: false });
    rest = rest.slice(m[0].length);
  }
  return out;
}

function uriProblem(uri: string, base: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(uri)) return 'has a scheme';
  if (uri.startsWith('/')) return 'is absolute';
  const parts = (base + uri).split('/');
  if (parts.length > 4) return 'is deeper than 4 segments';
  for (const p of parts) if (!PATH_SEGMENT.test(p) || p === '.' || p === '..') return `has the path segment '${p}'`;
  return undefined;
}

function kindProblem(kind: Kind, v: { value: string; quoted: boolean }): string | undefined {
  const mustQuote = kind === 'quoted' || kind === 'uri' || kind === 'byterange';
  if (v.quoted !== mustQuote) return mustQuote ? 'must be quoted' : 'must not be quoted';
  switch (kind) {
    case 'int': return INT.test(v.value) && Number(v.value) <= SAFE ? undefined : 'is not a decimal-integer';
    case 'float': return FLOAT.test(v.value) ? undefined : 'is not a decimal-floating-point';
    case 'signed-float': return SIGNED_FLOAT.test(v.value) ? undefined : 'is not a signed-decimal-floating-point';
    case 'hex': return /^0[xX][0-9a-fA-F]+$/.test(v.value) ? undefined : 'is not a hexadecimal-sequence';
    case 'resolution': return /^[0-9]+x[0-9]+$/.test(v.value) ? undefined : 'is not a decimal-resolution';
    case 'byterange': return /^[0-9]+(@[0-9]+)?$/.test(v.value) ? undefined : 'is not a byte range';
    default: return undefined;
  }
}

/**
 * Rules every published playlist must keep. `path` is the playlist's path inside the stream (URIs are
 * resolved against its directory).
 */
export function playlistViolations(text: string, path: string): string[] {
  const problems: string[] = [];
  const fail = (what: string) => problems.push(what);
  if (!text.startsWith('#EXTM3U\n')) fail('does not start with #EXTM3U');
  if (/[\u0000-\u0009\u000B-\u001F\u007F-\u009F\uFEFF\r]/.test(text)) fail('contains a control character, BOM or CR');
  if (!text.endsWith('\n')) fail('last line is not terminated');
  const base = path.includes('/') ? path.slice(0, path.lastIndexOf('/') + 1) : '';
  const lines = text.split('\n').filter((l) => l !== '').slice(1);
  const tags = lines.filter((l) => l.startsWith('#EXT')).map(nameOf);
  const master = tags.some((t) => MASTER_ONLY.includes(t));
  const media = tags.some((t) => MEDIA_ONLY.includes(t));
  if (master && media) fail('mixes master and media tags');
  if (!master && !tags.includes('EXT-X-TARGETDURATION')) fail('media playlist without EXT-X-TARGETDURATION');

  let version = 1;
  const versionLine = lines.find((l) => l.startsWith('#EXT-X-VERSION:'));
  if (versionLine) version = Number(valueOf(versionLine));
  const needs = (v: number, why: string) => { if (version < v) fail(`${why} needs EXT-X-VERSION ${v}, has ${version}`); };

  const once = new Map<string, number>();
  let segmentOnce = new Set<string>();
  let targetDuration = Infinity;
  let expectUri = false;
  let extinf: string | undefined;
  let sawSegment = false;
  let previousRange: { uri: string; end: number } | undefined;
  let range: { length: number; offset?: number } | undefined;
  for (const line of lines) {
    if (!line.startsWith('#')) {
      const bad = uriProblem(line, base);
      if (bad) fail(`URI '${line}' ${bad}`);
      if (master) {
        if (!expectUri) fail(`URI '${line}' without EXT-X-STREAM-INF`);
        expectUri = false;
        continue;
      }
      if (extinf === undefined) fail(`segment '${line}' without EXTINF`);
      else {
        const d = extinf.slice(0, extinf.indexOf(','));
        if (!FLOAT.test(d)) fail(`EXTINF '${d}' is not a decimal-floating-point`);
        if (!INT.test(d)) needs(3, `floating EXTINF ${d}`);
        if (Math.round(Number(d)) > targetDuration) fail(`EXTINF ${d} rounds above EXT-X-TARGETDURATION ${targetDuration}`);
      }
      if (range !== undefined) {
        if (range.offset === undefined && previousRange?.uri !== line) fail(`EXT-X-BYTERANGE without offset for '${line}' follows no range of it`);
        const offset = range.offset ?? previousRange?.end ?? 0;
        previousRange = { uri: line, end: offset + range.length };
      } else previousRange = undefined;
      sawSegment = true;
      extinf = undefined;
      range = undefined;
      segmentOnce = new Set();
      continue;
    }
    if (!line.startsWith('#EXT')) continue;
    const name = nameOf(line);
    const value = valueOf(line);
    if (MEDIA_ONCE.includes(name)) {
      once.set(name, (once.get(name) ?? 0) + 1);
      if (once.get(name) === 2) fail(`${name} appears twice`);
    }
    if (SEGMENT_ONCE.includes(name)) {
      if (segmentOnce.has(name)) fail(`${name} twice for one segment`);
      segmentOnce.add(name);
    }
    switch (name) {
      case 'EXT-X-TARGETDURATION':
      case 'EXT-X-MEDIA-SEQUENCE':
      case 'EXT-X-DISCONTINUITY-SEQUENCE':
      case 'EXT-X-VERSION':
        if (!INT.test(value) || Number(value) > SAFE) fail(`${name} '${value}' is not a safe decimal-integer`);
        if (name === 'EXT-X-TARGETDURATION') targetDuration = Number(value);
        if (sawSegment && name !== 'EXT-X-VERSION') fail(`${name} after the first segment`);
        break;
      case 'EXTINF':
        if (!value.includes(',')) fail(`EXTINF '${value}' without comma`);
        extinf = value;
        break;
      case 'EXT-X-BYTERANGE': {
        const m = /^([0-9]+)(?:@([0-9]+))?$/.exec(value);
        if (!m) fail(`EXT-X-BYTERANGE '${value}' is not <n>[@<o>]`);
        else range = { length: Number(m[1]), ...(m[2] !== undefined ? { offset: Number(m[2]) } : {}) };
        needs(4, 'EXT-X-BYTERANGE');
        break;
      }
      case 'EXT-X-PREFETCH': {
        const bad = uriProblem(value, base);
        if (bad) fail(`EXT-X-PREFETCH '${value}' ${bad}`);
        break;
      }
      case 'EXT-X-STREAM-INF':
        if (expectUri) fail('EXT-X-STREAM-INF without a URI');
        expectUri = true;
        break;
      case 'EXT-X-I-FRAMES-ONLY':
        needs(4, 'EXT-X-I-FRAMES-ONLY');
        break;
      case 'EXT-X-PROGRAM-DATE-TIME':
        if (Number.isNaN(Date.parse(value.replace(/([+-]\d{2})(\d{2})$/, '$1:$2')))) fail(`EXT-X-PROGRAM-DATE-TIME '${value}' is not a date`);
        break;
    }
    const spec = ATTRIBUTES[name];
    if (!spec) continue;
    const attrs = attributes(value);
    if (!attrs) {
      fail(`${name} has no valid attribute list: '${value}'`);
      continue;
    }
    for (const r of REQUIRED[name] ?? []) if (!attrs.has(r)) fail(`${name} without ${r}`);
    for (const [attr, kind] of Object.entries(spec)) {
      const v = attrs.get(attr);
      if (!v) continue;
      const bad = kindProblem(kind, v);
      if (bad) fail(`${name} ${attr} '${v.value}' ${bad}`);
      if (kind === 'uri') {
        const where = uriProblem(v.value, base);
        if (where) fail(`${name} ${attr} '${v.value}' ${where}`);
      }
    }
    if (name === 'EXT-X-KEY' || name === 'EXT-X-SESSION-KEY') {
      const uri = attrs.get('URI')?.value;
      if (uri !== undefined && !/^(skd|data):/i.test(uri)) {
        const where = uriProblem(uri, base);
        if (where) fail(`${name} URI '${uri}' ${where}`);
      }
      if (attrs.has('IV')) needs(2, `${name} IV`);
      if (attrs.has('KEYFORMAT') || attrs.has('KEYFORMATVERSIONS')) needs(5, `${name} KEYFORMAT`);
    }
    if (name === 'EXT-X-MAP') needs(tags.includes('EXT-X-I-FRAMES-ONLY') ? 5 : 6, 'EXT-X-MAP');
    if (name === 'EXT-X-STREAM-INF' || name === 'EXT-X-I-FRAME-STREAM-INF') {
      const bw = Number(attrs.get('BANDWIDTH')?.value);
      const avg = attrs.get('AVERAGE-BANDWIDTH');
      if (avg && Number(avg.value) > bw) fail(`${name} AVERAGE-BANDWIDTH ${avg.value} above BANDWIDTH ${bw}`);
    }
  }
  if (expectUri) fail('EXT-X-STREAM-INF without a URI');
  if (tags.includes('EXT-X-PART') && !tags.includes('EXT-X-PART-INF')) fail('EXT-X-PART without EXT-X-PART-INF');
  return problems;
}

/**
 * The low-latency rules of draft-pantos-hls-rfc8216bis a published media playlist with parts must keep:
 * EXT-X-PART-INF and EXT-X-SERVER-CONTROL with parts, every part at most the part target (the transcoder's
 * fragments fit the origin's target), PART-HOLD-BACK at least twice the part target (4.4.3.8),
 * CAN-SKIP-UNTIL at least six target durations (4.4.3.8), at most one preload hint of each type (4.4.5.3),
 * parts only of segments starting within three target durations of the end or after the last (6.2.2: the
 * server MAY remove older parts; the origin does), and EXT-X-SKIP only in a version-9 playlist.
 */
export function lowLatencyViolations(text: string): string[] {
  const problems: string[] = [];
  const lines = text.split('\n');
  const attr = (line: string | undefined, name: string) => (line === undefined ? undefined : attributes(valueOf(line))?.get(name)?.value);
  const partInf = lines.find((l) => l.startsWith('#EXT-X-PART-INF:'));
  const control = lines.find((l) => l.startsWith('#EXT-X-SERVER-CONTROL:'));
  const target = Number(attr(partInf, 'PART-TARGET'));
  const targetDuration = Number(valueOf(lines.find((l) => l.startsWith('#EXT-X-TARGETDURATION:')) ?? ''));
  const parts = lines.filter((l) => l.startsWith('#EXT-X-PART:'));
  if (parts.length > 0 && (partInf === undefined || control === undefined)) problems.push('parts without EXT-X-PART-INF and EXT-X-SERVER-CONTROL');
  for (const p of parts) {
    const d = Number(attr(p, 'DURATION'));
    if (!(d <= target)) problems.push(`part ${attr(p, 'URI')} of ${d} s is longer than the part target ${target} s`);
  }
  if (control !== undefined) {
    const holdBack = Number(attr(control, 'PART-HOLD-BACK'));
    if (partInf !== undefined && !(holdBack >= 2 * target)) problems.push(`PART-HOLD-BACK ${holdBack} is under twice the part target ${target}`);
    const skip = attr(control, 'CAN-SKIP-UNTIL');
    if (skip !== undefined && !(Number(skip) >= 6 * targetDuration)) problems.push(`CAN-SKIP-UNTIL ${skip} is under six target durations`);
  }
  const hints = lines.filter((l) => l.startsWith('#EXT-X-PRELOAD-HINT:')).map((l) => attr(l, 'TYPE'));
  if (new Set(hints).size !== hints.length) problems.push(`more than one preload hint of a type: ${hints.join(', ')}`);
  // Read backwards: `start` is how far from the end of the playlist the segment of the next part line read
  // starts (a segment's parts come before its EXTINF; those after the last segment start after it).
  let start = lines.slice(lines.findLastIndex((l) => l !== '' && !l.startsWith('#')) + 1)
    .filter((l) => l.startsWith('#EXT-X-PART:')).reduce((sum, l) => sum + Number(attr(l, 'DURATION')), 0);
  let reported = false;
  for (let i = lines.length - 1; i >= 0 && !reported; i--) {
    const l = lines[i]!;
    if (l.startsWith('#EXTINF:')) start += Number(valueOf(l).split(',')[0]);
    else if (l.startsWith('#EXT-X-PART:') && start > 3 * targetDuration + 1e-6) {
      problems.push(`parts of a segment starting ${start} s from the end (more than three target durations)`);
      reported = true;
    }
  }
  const version = Number(valueOf(lines.find((l) => l.startsWith('#EXT-X-VERSION:')) ?? '#EXT-X-VERSION:1'));
  if (lines.some((l) => l.startsWith('#EXT-X-SKIP:')) && version < 9) problems.push(`EXT-X-SKIP in a playlist of version ${version}`);
  return problems;
}

