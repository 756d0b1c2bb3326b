// The HLS playlist model (RFC 8216 and draft-pantos-hls-rfc8216bis).
//
// Why not a library: `hls-parser` drops tags it does not know (e.g. `#EXT-X-CUE-OUT`, vendor tags) and
// reformats EXTINF; `m3u8-parser` only parses. An origin that rewrites playlists must keep every tag with
// the segment it belongs to, byte for byte, so this model keeps segment tags as raw lines and only
// interprets what rewriting needs.
//
// Raw lines are published as they came, so everything in them is checked here against one table of the
// tags the RFC and the draft define (TAGS): where each may appear, how often, the grammar of its value
// or of each attribute (RFC 8216 4.2), and which attributes are URIs. A line that breaks the grammar
// refuses the whole playlist: an origin that passed it on would publish an invalid playlist.

/** Why a playlist is refused: a closed set, used as the origin's rejection metric label. */
export type PlaylistRefusal = 'bad_playlist' | 'bad_encoding' | 'bad_number' | 'bad_uri' | 'duration_too_long';

export class PlaylistError extends Error {
  override name = 'PlaylistError';
  constructor(readonly reason: PlaylistRefusal, message: string) {
    super(message);
  }
}

// ---- values (RFC 8216 4.2) ---------------------------------------------------------------------------

/**
 * decimal-integer is 0..2^64-1. Values above Number.MAX_SAFE_INTEGER (2^53-1) are refused rather than
 * carried as BigInt: sequence numbers take part in arithmetic all through the publisher and its JSON
 * state, where a BigInt would have to be threaded everywhere for values no encoder sends (epoch seconds
 * are ~2^31, epoch microseconds ~2^51), while a Number past 2^53 silently rounds, and a rounded media
 * sequence number is a wrong one.
 */
const DECIMAL_INTEGER = /^[0-9]+$/;
/**
 * decimal-floating-point: "characters from the set [0..9] and [.] ... in decimal positional notation",
 * read as digits with an optional fraction; `.5`, `5.`, exponents, signs and hex are refused.
 */
const DECIMAL_FLOAT = /^[0-9]+(?:\.[0-9]+)?$/;
const SIGNED_FLOAT = /^-?[0-9]+(?:\.[0-9]+)?$/;
const HEXADECIMAL = /^0[xX][0-9A-Fa-f]+$/;
const RESOLUTION = /^([0-9]+)x([0-9]+)$/;
/** ISO 8601 with a time zone; ffmpeg writes `+0000`, so the offset's colon is optional. */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}(?::?\d{2})?)$/;
/** enumerated-string: no quote, comma or whitespace. */
const ENUMERATED = /^[^",\s]+$/;

function decimalInteger(text: string, what: string): number {
  const v = Number(text);
  if (!DECIMAL_INTEGER.test(text) || !Number.isSafeInteger(v)) {
    throw new PlaylistError('bad_number', `${what}: '${text}' is not a decimal-integer up to ${Number.MAX_SAFE_INTEGER}`);
  }
  return v;
}

function decimalFloat(text: string, what: string, signed = false): number {
  const v = Number(text);
  if (!(signed ? SIGNED_FLOAT : DECIMAL_FLOAT).test(text) || !Number.isFinite(v)) {
    throw new PlaylistError('bad_number', `${what}: '${text}' is not a ${signed ? 'signed-' : ''}decimal-floating-point`);
  }
  return v;
}

interface ByteRange {
  length: number;
  /** Undefined when the text gave none (then the sub-range follows the previous one). */
  offset?: number;
}

/** `<n>[@<o>]` (RFC 8216 4.3.2.2). */
function parseByteRange(text: string, what: string): ByteRange {
  const at = text.indexOf('@');
  const length = decimalInteger(at === -1 ? text : text.slice(0, at), `${what} length`);
  if (at === -1) return { length };
  const offset = decimalInteger(text.slice(at + 1), `${what} offset`);
  if (!Number.isSafeInteger(offset + length)) throw new PlaylistError('bad_number', `${what}: '${text}' ends past ${Number.MAX_SAFE_INTEGER}`);
  return { length, offset };
}

// ---- attribute lists (RFC 8216 4.2) --------------------------------------------------------------------

export interface Attribute {
  name: string;
  /** Without the quotes of a quoted-string. */
  value: string;
  quoted: boolean;
}

/**
 * Parses an attribute-list strictly: `NAME=value` pairs joined by commas, names of [A-Z0-9-], values a
 * quoted-string or an unquoted token without quotes, commas or whitespace; no name twice. Strict, so
 * that serializing the result gives back the same text.
 */
export function parseAttributeList(text: string, tag = 'attribute list'): Attribute[] {
  const attrs: Attribute[] = [];
  const re = /([A-Z0-9-]+)=(?:"([^"]*)"|([^",\s]+))(,|$)/y;
  let at = 0;
  for (;;) {
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) throw new PlaylistError('bad_playlist', `${tag}: bad attribute list at '${text.slice(at, at + 40)}'`);
    const name = m[1]!;
    if (attrs.some((a) => a.name === name)) throw new PlaylistError('bad_playlist', `${tag}: attribute ${name} given twice`);
    attrs.push(m[2] !== undefined ? { name, value: m[2], quoted: true } : { name, value: m[3]!, quoted: false });
    at = re.lastIndex;
    if (m[4] === '') return attrs;
    if (at === text.length) throw new PlaylistError('bad_playlist', `${tag}: attribute list ends with a comma`);
  }
}

export function formatAttributeList(attrs: readonly Attribute[]): string {
  return attrs.map((a) => `${a.name}=${a.quoted ? `"${a.value}"` : a.value}`).join(',');
}

/** A tag line with its attribute list changed by `fn`. */
export function updateAttributes(line: string, fn: (attrs: Attribute[]) => Attribute[]): string {
  const name = tagName(line);
  return `#${name}:${formatAttributeList(fn(parseAttributeList(tagValue(line), name)))}`;
}

// ---- the tag table ---------------------------------------------------------------------------------------

/**
 * - `uri`: a URI (quoted in attributes); the origin requires it to stay inside the stream.
 * - `key-uri`: the same, except that key systems' opaque identifiers (`skd:`, `data:`) are allowed.
 * - `byterange`: `<n>[@<o>]` (quoted in attributes).
 */
type ValueType =
  | 'integer' | 'float' | 'signed-float' | 'hex' | 'resolution' | 'enum' | 'quoted' | 'quoted-or-enum'
  | 'date-time' | 'byterange' | 'uri' | 'key-uri';

/**
 * Where a tag may appear: `header` (media playlist, once), `segment` (applies to the next URI),
 * `trailer` (low-latency tags: before a segment they stay with it, after the last one they end the
 * playlist), `master`, or `any` (either playlist type, once).
 */
type Place = 'header' | 'segment' | 'trailer' | 'master' | 'any';

interface TagRule {
  place: Place;
  /** Header tags: once per playlist; segment tags: once per segment. */
  once?: true;
  /** What follows the colon; none means the tag has no value. */
  value?: ValueType | 'attributes' | 'extinf';
  values?: readonly string[];
  attributes?: Readonly<Record<string, ValueType>>;
  required?: readonly string[];
}

const KEY_ATTRIBUTES = { METHOD: 'enum', URI: 'key-uri', IV: 'hex', KEYFORMAT: 'quoted', KEYFORMATVERSIONS: 'quoted' } as const;
const VARIANT_ATTRIBUTES = {
  BANDWIDTH: 'integer', 'AVERAGE-BANDWIDTH': 'integer', SCORE: 'float', CODECS: 'quoted', 'SUPPLEMENTAL-CODECS': 'quoted',
  RESOLUTION: 'resolution', 'FRAME-RATE': 'float', 'HDCP-LEVEL': 'enum', 'ALLOWED-CPC': 'quoted', 'VIDEO-RANGE': 'enum',
  'REQ-VIDEO-LAYOUT': 'quoted', 'STABLE-VARIANT-ID': 'quoted', VIDEO: 'quoted', 'PATHWAY-ID': 'quoted', 'PROGRAM-ID': 'integer',
} as const;

/** Every tag of RFC 8216 and draft-pantos-hls-rfc8216bis (plus LHLS's EXT-X-PREFETCH). */
const TAGS: Readonly<Record<string, TagRule>> = {
  // Basic tags
  'EXT-X-VERSION': { place: 'any', once: true, value: 'integer' },
  // Media segment tags
  EXTINF: { place: 'segment', once: true, value: 'extinf' },
  'EXT-X-BYTERANGE': { place: 'segment', once: true, value: 'byterange' },
  'EXT-X-DISCONTINUITY': { place: 'segment', once: true },
  'EXT-X-KEY': { place: 'segment', value: 'attributes', attributes: KEY_ATTRIBUTES, required: ['METHOD'] },
  'EXT-X-MAP': { place: 'segment', once: true, value: 'attributes', attributes: { URI: 'uri', BYTERANGE: 'byterange' }, required: ['URI'] },
  'EXT-X-PROGRAM-DATE-TIME': { place: 'segment', once: true, value: 'date-time' },
  'EXT-X-GAP': { place: 'segment', once: true },
  'EXT-X-BITRATE': { place: 'segment', once: true, value: 'integer' },
  'EXT-X-DATERANGE': {
    place: 'segment', value: 'attributes', required: ['ID'],
    attributes: {
      ID: 'quoted', CLASS: 'quoted', 'START-DATE': 'quoted', CUE: 'quoted', 'END-DATE': 'quoted', DURATION: 'float',
      'PLANNED-DURATION': 'float', 'SCTE35-CMD': 'hex', 'SCTE35-OUT': 'hex', 'SCTE35-IN': 'hex', 'END-ON-NEXT': 'enum',
      // Interstitials (draft appendix): the asset and asset list are URIs.
      'X-ASSET-URI': 'uri', 'X-ASSET-LIST': 'uri',
    },
  },
  // Low-latency tags
  'EXT-X-PART': {
    place: 'trailer', value: 'attributes', required: ['URI', 'DURATION'],
    attributes: { URI: 'uri', DURATION: 'float', INDEPENDENT: 'enum', BYTERANGE: 'byterange', GAP: 'enum' },
  },
  'EXT-X-PRELOAD-HINT': {
    place: 'trailer', value: 'attributes', required: ['TYPE', 'URI'],
    attributes: { TYPE: 'enum', URI: 'uri', 'BYTERANGE-START': 'integer', 'BYTERANGE-LENGTH': 'integer' },
  },
  'EXT-X-RENDITION-REPORT': { place: 'trailer', value: 'attributes', attributes: { URI: 'uri', 'LAST-MSN': 'integer', 'LAST-PART': 'integer' } },
  'EXT-X-SKIP': { place: 'trailer', value: 'attributes', attributes: { 'SKIPPED-SEGMENTS': 'integer', 'RECENTLY-REMOVED-DATERANGES': 'quoted' }, required: ['SKIPPED-SEGMENTS'] },
  /** LHLS (ffmpeg's dash muxer): the segment still being written. */
  'EXT-X-PREFETCH': { place: 'trailer', value: 'uri' },
  // Media playlist tags
  'EXT-X-TARGETDURATION': { place: 'header', once: true, value: 'integer' },
  'EXT-X-MEDIA-SEQUENCE': { place: 'header', once: true, value: 'integer' },
  'EXT-X-DISCONTINUITY-SEQUENCE': { place: 'header', once: true, value: 'integer' },
  'EXT-X-ENDLIST': { place: 'header', once: true },
  'EXT-X-PLAYLIST-TYPE': { place: 'header', once: true, value: 'enum', values: ['EVENT', 'VOD'] },
  'EXT-X-I-FRAMES-ONLY': { place: 'header', once: true },
  'EXT-X-PART-INF': { place: 'header', once: true, value: 'attributes', attributes: { 'PART-TARGET': 'float' }, required: ['PART-TARGET'] },
  'EXT-X-SERVER-CONTROL': {
    place: 'header', once: true, value: 'attributes',
    attributes: { 'CAN-SKIP-UNTIL': 'float', 'CAN-SKIP-DATERANGES': 'enum', 'HOLD-BACK': 'float', 'PART-HOLD-BACK': 'float', 'CAN-BLOCK-RELOAD': 'enum' },
  },
  /** Removed in version 7, still sent by old encoders. */
  'EXT-X-ALLOW-CACHE': { place: 'header', once: true, value: 'enum', values: ['YES', 'NO'] },
  // Tags of either playlist type
  'EXT-X-INDEPENDENT-SEGMENTS': { place: 'any', once: true },
  'EXT-X-START': { place: 'any', once: true, value: 'attributes', attributes: { 'TIME-OFFSET': 'signed-float', PRECISE: 'enum' }, required: ['TIME-OFFSET'] },
  'EXT-X-DEFINE': { place: 'any', value: 'attributes', attributes: { NAME: 'quoted', VALUE: 'quoted', IMPORT: 'quoted', QUERYPARAM: 'quoted' } },
  // Master playlist tags
  'EXT-X-MEDIA': {
    place: 'master', value: 'attributes', required: ['TYPE', 'GROUP-ID', 'NAME'],
    attributes: {
      TYPE: 'enum', URI: 'uri', 'GROUP-ID': 'quoted', LANGUAGE: 'quoted', 'ASSOC-LANGUAGE': 'quoted', NAME: 'quoted',
      'STABLE-RENDITION-ID': 'quoted', DEFAULT: 'enum', AUTOSELECT: 'enum', FORCED: 'enum', 'INSTREAM-ID': 'quoted',
      'BIT-DEPTH': 'integer', 'SAMPLE-RATE': 'integer', CHARACTERISTICS: 'quoted', CHANNELS: 'quoted',
    },
  },
  'EXT-X-STREAM-INF': {
    place: 'master', value: 'attributes', required: ['BANDWIDTH'],
    attributes: { ...VARIANT_ATTRIBUTES, AUDIO: 'quoted', SUBTITLES: 'quoted', 'CLOSED-CAPTIONS': 'quoted-or-enum' },
  },
  'EXT-X-I-FRAME-STREAM-INF': { place: 'master', value: 'attributes', attributes: { ...VARIANT_ATTRIBUTES, URI: 'uri' }, required: ['BANDWIDTH', 'URI'] },
  'EXT-X-SESSION-DATA': {
    place: 'master', value: 'attributes', required: ['DATA-ID'],
    attributes: { 'DATA-ID': 'quoted', VALUE: 'quoted', URI: 'uri', FORMAT: 'enum', LANGUAGE: 'quoted' },
  },
  'EXT-X-SESSION-KEY': { place: 'master', value: 'attributes', attributes: KEY_ATTRIBUTES, required: ['METHOD'] },
  'EXT-X-CONTENT-STEERING': { place: 'master', once: true, value: 'attributes', attributes: { 'SERVER-URI': 'uri', 'PATHWAY-ID': 'quoted' }, required: ['SERVER-URI'] },
};

const MEDIA_PLACES: ReadonlySet<Place> = new Set(['header', 'segment', 'trailer']);

export interface UriReference {
  uri: string;
  /** The attribute holding it; undefined for URI lines and tags whose whole value is a URI. */
  attribute?: string;
  /** A key URI: key systems' opaque identifiers (`skd:`, `data:`) are not resources of the stream. */
  key: boolean;
}

/** An attribute that looks like a URI in a tag the table does not know (checked all the same). */
const UNKNOWN_TAG_URI = /(?:^|,)([A-Z0-9-]*URI)=(?:"([^"]*)"|([^,]*))/g;

/**
 * Every URI a playlist line references, read from the tag table: URI lines, URI-valued tags and every
 * URI attribute, quoted or not. Tags the table does not know are scanned for `URI=`/`*-URI=` too, so
 * that no line the origin passes on can point anywhere unchecked.
 */
export function uriReferences(line: string): UriReference[] {
  if (!line.startsWith('#')) return [{ uri: line, key: false }];
  if (!line.startsWith('#EXT')) return [];
  const name = tagName(line);
  const rule = TAGS[name];
  const value = tagValue(line);
  if (!rule) {
    return [...value.matchAll(UNKNOWN_TAG_URI)].map((m) => ({ uri: m[2] ?? m[3]!, attribute: m[1]!, key: false }));
  }
  if (rule.value === 'uri') return [{ uri: value, key: false }];
  if (rule.value !== 'attributes') return [];
  return parseAttributeList(value, name).flatMap((a) => {
    const type = rule.attributes?.[a.name];
    return type === 'uri' || type === 'key-uri' ? [{ uri: a.value, attribute: a.name, key: type === 'key-uri' }] : [];
  });
}

/** Checks a tag's value or (`inAttribute`) an attribute's: URIs and byte ranges are quoted only in attributes. */
function checkValue(type: ValueType, value: string, quoted: boolean, what: string, inAttribute: boolean): void {
  const wantQuotes = type === 'quoted' || (inAttribute && (type === 'uri' || type === 'key-uri' || type === 'byterange'));
  switch (type) {
    case 'quoted-or-enum':
      return;
    case 'uri':
    case 'key-uri':
      if (quoted !== wantQuotes) throw new PlaylistError('bad_uri', `${what} must ${wantQuotes ? '' : 'not '}be a quoted-string`);
      if (value === '') throw new PlaylistError('bad_uri', `${what} is empty`);
      return;
  }
  if (quoted !== wantQuotes) {
    const reason = type === 'integer' || type === 'float' || type === 'signed-float' || type === 'hex' ? 'bad_number' : 'bad_playlist';
    throw new PlaylistError(reason, `${what} must ${wantQuotes ? '' : 'not '}be a quoted-string`);
  }
  switch (type) {
    case 'integer': decimalInteger(value, what); return;
    case 'float': decimalFloat(value, what); return;
    case 'signed-float': decimalFloat(value, what, true); return;
    case 'byterange': parseByteRange(value, what); return;
    case 'hex':
      if (!HEXADECIMAL.test(value)) throw new PlaylistError('bad_number', `${what}: '${value}' is not a hexadecimal-sequence`);
      return;
    case 'resolution': {
      const m = RESOLUTION.exec(value);
      if (!m) throw new PlaylistError('bad_number', `${what}: '${value}' is not a decimal-resolution`);
      decimalInteger(m[1]!, what);
      decimalInteger(m[2]!, what);
      return;
    }
    case 'date-time':
      if (!DATE_TIME.test(value) || Number.isNaN(Date.parse(value.replace(/([+-]\d{2})(\d{2})$/, '$1:$2')))) {
        throw new PlaylistError('bad_playlist', `${what}: '${value}' is not an ISO 8601 date-time`);
      }
      return;
    case 'enum':
      if (!ENUMERATED.test(value)) throw new PlaylistError('bad_playlist', `${what}: '${value}' is not an enumerated-string`);
      return;
    case 'quoted':
      return;
  }
}

/** Checks one tag line against the table; returns its rule (undefined for tags the table does not know). */
function checkTag(line: string): TagRule | undefined {
  const name = tagName(line);
  const rule = TAGS[name];
  if (!rule) return undefined;
  const hasValue = line.includes(':');
  if (rule.value === undefined) {
    if (hasValue) throw new PlaylistError('bad_playlist', `${name} takes no value: '${line}'`);
    return rule;
  }
  if (!hasValue) throw new PlaylistError('bad_playlist', `${name} needs a value`);
  const value = tagValue(line);
  if (rule.value === 'extinf') {
    const comma = value.indexOf(',');
    if (comma === -1) throw new PlaylistError('bad_playlist', `EXTINF needs a comma after the duration: '${line}'`);
    decimalFloat(value.slice(0, comma), 'EXTINF duration');
  } else if (rule.value === 'attributes') {
    const attrs = parseAttributeList(value, name);
    for (const a of attrs) {
      const type = rule.attributes?.[a.name];
      if (type) checkValue(type, a.value, a.quoted, `${name} ${a.name}`, true);
    }
    for (const r of rule.required ?? []) {
      if (!attrs.some((a) => a.name === r)) throw new PlaylistError('bad_playlist', `${name} without ${r}`);
    }
  } else {
    checkValue(rule.value, value, false, name, false);
    if (rule.values && !rule.values.includes(value)) throw new PlaylistError('bad_playlist', `${name}: '${value}' is not one of ${rule.values.join(', ')}`);
  }
  return rule;
}

// ---- the model -------------------------------------------------------------------------------------------

export interface MediaSegment {
  /** The lines between the previous URI and this one, in order (EXTINF included). */
  tags: string[];
  uri: string;
  /** EXTINF duration in seconds. */
  duration: number;
  discontinuity: boolean;
  gap: boolean;
  /** EXT-X-BYTERANGE with its offset resolved (an omitted one follows the previous segment's range). */
  byteRange?: { length: number; offset: number };
  /** The EXT-X-MAP line in force for this segment (its own or inherited). */
  map?: string;
  /** The EXT-X-KEY lines in force for this segment (its own or inherited). */
  keys: string[];
}

export interface MediaPlaylist {
  type: 'media';
  version?: number;
  targetDuration: number;
  mediaSequence: number;
  discontinuitySequence: number;
  playlistType?: string;
  /** Other playlist-level tag lines, in order. */
  header: string[];
  segments: MediaSegment[];
  /** Tag lines after the last segment. */
  trailer: string[];
  endList: boolean;
}

export interface MasterPlaylist {
  type: 'master';
  /** All lines but #EXTM3U; URIs are edited in place. */
  lines: string[];
}

export type Playlist = MediaPlaylist | MasterPlaylist;

export function tagName(line: string): string {
  const colon = line.indexOf(':');
  return (colon === -1 ? line : line.slice(0, colon)).slice(1);
}

function tagValue(line: string): string {
  const colon = line.indexOf(':');
  return colon === -1 ? '' : line.slice(colon + 1);
}

/** Rewrites the URI attribute of a tag line; returns the line unchanged without one. */
export function mapUriAttribute(line: string, fn: (uri: string) => string): string {
  if (uriAttribute(line) === undefined) return line;
  return updateAttributes(line, (attrs) => attrs.map((a) => (a.name === 'URI' ? { ...a, value: fn(a.value) } : a)));
}

export function uriAttribute(line: string): string | undefined {
  return uriReferences(line).find((r) => r.attribute === 'URI')?.uri;
}

const UTF8_BOM = [0xef, 0xbb, 0xbf];
const EXTM3U = Buffer.from('#EXTM3U');

/** Decodes an uploaded playlist: UTF-8 without a byte order mark (RFC 8216 4.1), starting with #EXTM3U. */
export function decodePlaylist(bytes: Uint8Array): string {
  if (UTF8_BOM.every((b, i) => bytes[i] === b)) throw new PlaylistError('bad_encoding', 'playlist starts with a byte order mark');
  if (!EXTM3U.every((b, i) => bytes[i] === b)) throw new PlaylistError('bad_playlist', 'not a playlist (missing #EXTM3U)');
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new PlaylistError('bad_encoding', 'playlist is not valid UTF-8');
  }
}

/**
 * RFC 8216 4.1: no control characters but CR and LF. A lone CR is refused too: this parser reads it as
 * part of a line, a player may read it as a line break, and a line only the player sees is unchecked.
 */
const FORBIDDEN_CHARACTER = /[\u0000-\u0009\u000B\u000C\u000E-\u001F\u007F-\u009F\uFEFF]|\r(?!\n)/;

function splitLines(text: string): string[] {
  const bad = FORBIDDEN_CHARACTER.exec(text);
  if (bad) throw new PlaylistError('bad_encoding', `playlist contains U+${bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`);
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
}

export function parsePlaylist(text: string): Playlist {
  if (!text.startsWith('#EXTM3U')) throw new PlaylistError('bad_playlist', 'not a playlist (missing #EXTM3U)');
  const lines = splitLines(text);
  if (lines[0] !== '#EXTM3U') throw new PlaylistError('bad_playlist', 'not a playlist (missing #EXTM3U)');
  const body = lines.slice(1);
  let master = false;
  let media = false;
  const playlistOnce = new Set<string>();
  const segmentOnce = new Set<string>();
  for (const line of body) {
    if (!line.startsWith('#EXT')) {
      if (!line.startsWith('#')) segmentOnce.clear(); // a URI line ends a segment's tags
      continue;
    }
    if (line === '#EXTM3U') throw new PlaylistError('bad_playlist', '#EXTM3U given twice');
    const rule = checkTag(line);
    if (!rule) continue;
    const name = tagName(line);
    if (rule.once) {
      const seen = rule.place === 'segment' ? segmentOnce : playlistOnce;
      if (seen.has(name)) throw new PlaylistError('bad_playlist', `${name} given twice${rule.place === 'segment' ? ' for one segment' : ''}`);
      seen.add(name);
    }
    if (rule.place === 'master') master = true;
    else if (MEDIA_PLACES.has(rule.place)) media = true;
  }
  if (master && media) throw new PlaylistError('bad_playlist', 'playlist mixes master and media tags');
  if (master) return parseMaster(body);
  return parseMedia(body);
}

function parseMaster(lines: string[]): MasterPlaylist {
  let expectUri = false;
  for (const line of lines) {
    const name = line.startsWith('#EXT') ? tagName(line) : '';
    if (name === 'EXT-X-STREAM-INF' || name === 'EXT-X-I-FRAME-STREAM-INF') {
      const attrs = parseAttributeList(tagValue(line), name);
      const value = (attr: string) => Number(attrs.find((a) => a.name === attr)?.value ?? 0);
      if (value('AVERAGE-BANDWIDTH') > value('BANDWIDTH')) throw new PlaylistError('bad_playlist', `${name}: AVERAGE-BANDWIDTH above the peak BANDWIDTH`);
    }
    if (line.startsWith('#')) {
      if (expectUri && line.startsWith('#EXT-X-STREAM-INF:')) throw new PlaylistError('bad_playlist', 'EXT-X-STREAM-INF without a URI');
      if (line.startsWith('#EXT-X-STREAM-INF:')) expectUri = true;
      continue;
    }
    if (!expectUri) throw new PlaylistError('bad_playlist', `URI '${line}' without EXT-X-STREAM-INF`);
    expectUri = false;
  }
  if (expectUri) throw new PlaylistError('bad_playlist', 'EXT-X-STREAM-INF without a URI');
  return { type: 'master', lines };
}

function parseMedia(lines: string[]): MediaPlaylist {
  const pl: MediaPlaylist = {
    type: 'media', targetDuration: -1, mediaSequence: 0, discontinuitySequence: 0,
    header: [], segments: [], trailer: [], endList: false,
  };
  let pending: string[] = [];
  let map: string | undefined;
  let keys: string[] = [];
  let keysFromPrevious = false;
  for (const line of lines) {
    if (!line.startsWith('#')) {
      const extinf = pending.find((l) => l.startsWith('#EXTINF:'));
      if (!extinf) throw new PlaylistError('bad_playlist', `segment '${line}' without EXTINF`);
      const byteRange = pending.find((l) => l.startsWith('#EXT-X-BYTERANGE:'));
      pl.segments.push({
        tags: pending, uri: line, duration: decimalFloat(tagValue(extinf).split(',')[0]!, 'EXTINF duration'),
        discontinuity: pending.includes('#EXT-X-DISCONTINUITY'),
        gap: pending.includes('#EXT-X-GAP'),
        ...(byteRange !== undefined ? { byteRange: resolveByteRange(tagValue(byteRange), line, pl.segments.at(-1)) } : {}),
        ...(map !== undefined ? { map } : {}),
        keys,
      });
      pending = [];
      keysFromPrevious = true;
      continue;
    }
    if (!line.startsWith('#EXT')) {
      pending.push(line); // a comment travels with its segment
      continue;
    }
    const name = tagName(line);
    switch (name) {
      case 'EXT-X-TARGETDURATION': pl.targetDuration = decimalInteger(tagValue(line), name); continue;
      case 'EXT-X-MEDIA-SEQUENCE': pl.mediaSequence = decimalInteger(tagValue(line), name); continue;
      case 'EXT-X-DISCONTINUITY-SEQUENCE': pl.discontinuitySequence = decimalInteger(tagValue(line), name); continue;
      case 'EXT-X-VERSION': pl.version = decimalInteger(tagValue(line), name); continue;
      case 'EXT-X-PLAYLIST-TYPE': pl.playlistType = tagValue(line); continue;
      case 'EXT-X-ENDLIST': pl.endList = true; continue;
      case 'EXT-X-MAP': map = line; break;
      case 'EXT-X-KEY':
        // Consecutive KEY tags form one set (several KEYFORMATs); a new run replaces the set.
        if (keysFromPrevious) { keys = []; keysFromPrevious = false; }
        keys = [...keys, line];
        break;
    }
    const place = TAGS[name]?.place;
    if (place === 'header' || place === 'any') pl.header.push(line);
    else pending.push(line);
  }
  if (pl.targetDuration < 0) throw new PlaylistError('bad_playlist', 'media playlist without EXT-X-TARGETDURATION');
  if (lines.some((l) => l.startsWith('#EXT-X-PART:')) && !pl.header.some((l) => l.startsWith('#EXT-X-PART-INF:'))) {
    throw new PlaylistError('bad_playlist', 'EXT-X-PART without EXT-X-PART-INF');
  }
  if (!Number.isSafeInteger(pl.mediaSequence + pl.segments.length)) {
    throw new PlaylistError('bad_number', `EXT-X-MEDIA-SEQUENCE ${pl.mediaSequence} plus ${pl.segments.length} segments passes ${Number.MAX_SAFE_INTEGER}`);
  }
  // Tags left after the last URI: hints belong to the trailer; anything else has no segment to belong to.
  pl.trailer = pending.filter((l) => l.startsWith('#EXT') && TAGS[tagName(l)]?.place === 'trailer');
  return pl;
}

/** RFC 8216 4.3.2.2: without an offset, the range follows the previous segment's range of the same resource. */
function resolveByteRange(text: string, uri: string, previous: MediaSegment | undefined): { length: number; offset: number } {
  const { length, offset } = parseByteRange(text, 'EXT-X-BYTERANGE');
  if (offset !== undefined) return { length, offset };
  if (previous?.byteRange === undefined || previous.uri !== uri) {
    throw new PlaylistError('bad_playlist', `EXT-X-BYTERANGE without an offset for '${uri}' does not follow a sub-range of the same resource`);
  }
  const next = previous.byteRange.offset + previous.byteRange.length;
  if (!Number.isSafeInteger(next + length)) throw new PlaylistError('bad_number', `EXT-X-BYTERANGE of '${uri}' ends past ${Number.MAX_SAFE_INTEGER}`);
  return { length, offset: next };
}

/**
 * The lowest EXT-X-VERSION a media playlist with these lines may declare (RFC 8216 7; draft 8 for
 * EXT-X-DEFINE). Uploaders get it wrong (no VERSION with floating EXTINF is common), and the origin's own
 * rewriting (a window starting with a MAP) can need more than the upload declared.
 */
export function requiredVersion(lines: Iterable<string>): number {
  let version = 1;
  let iFramesOnly = false;
  let map = false;
  for (const line of lines) {
    if (!line.startsWith('#EXT')) continue;
    const name = tagName(line);
    if (name === 'EXTINF' && !DECIMAL_INTEGER.test(tagValue(line).split(',')[0]!)) version = Math.max(version, 3);
    else if (name === 'EXT-X-BYTERANGE') version = Math.max(version, 4);
    else if (name === 'EXT-X-I-FRAMES-ONLY') iFramesOnly = true;
    else if (name === 'EXT-X-MAP') map = true;
    else if (name === 'EXT-X-DEFINE') version = Math.max(version, 8);
    else if (name === 'EXT-X-KEY') {
      const attrs = parseAttributeList(tagValue(line), name).map((a) => a.name);
      if (attrs.includes('IV')) version = Math.max(version, 2);
      if (attrs.includes('KEYFORMAT') || attrs.includes('KEYFORMATVERSIONS')) version = Math.max(version, 5);
    }
  }
  if (iFramesOnly) version = Math.max(version, 4);
  if (map) version = Math.max(version, iFramesOnly ? 5 : 6);
  return version;
}

/** Serializes a media playlist. A window that starts mid-stream repeats the MAP and KEY in force. */
export function serializeMedia(pl: MediaPlaylist): string {
  const out = ['#EXTM3U'];
  if (pl.version !== undefined) out.push(`#EXT-X-VERSION:${pl.version}`);
  out.push(`#EXT-X-TARGETDURATION:${pl.targetDuration}`);
  out.push(`#EXT-X-MEDIA-SEQUENCE:${pl.mediaSequence}`);
  if (pl.discontinuitySequence > 0) out.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${pl.discontinuitySequence}`);
  if (pl.playlistType !== undefined) out.push(`#EXT-X-PLAYLIST-TYPE:${pl.playlistType}`);
  for (const line of pl.header) {
    const name = tagName(line);
    if (name === 'EXT-X-VERSION' || name === 'EXT-X-TARGETDURATION' || name === 'EXT-X-MEDIA-SEQUENCE' ||
      name === 'EXT-X-DISCONTINUITY-SEQUENCE' || name === 'EXT-X-PLAYLIST-TYPE' || name === 'EXT-X-ENDLIST') continue;
    out.push(line);
  }
  pl.segments.forEach((seg, i) => {
    if (i === 0) {
      if (seg.keys.length > 0 && !seg.tags.some((t) => t.startsWith('#EXT-X-KEY'))) out.push(...seg.keys);
      if (seg.map !== undefined && !seg.tags.some((t) => t.startsWith('#EXT-X-MAP'))) out.push(seg.map);
    }
    out.push(...seg.tags, seg.uri);
  });
  out.push(...pl.trailer);
  if (pl.endList) out.push('#EXT-X-ENDLIST');
  return out.join('\n') + '\n';
}

export function serializeMaster(pl: MasterPlaylist): string {
  return ['#EXTM3U', ...pl.lines].join('\n') + '\n';
}

export function serializePlaylist(pl: Playlist): string {
  return pl.type === 'media' ? serializeMedia(pl) : serializeMaster(pl);
}
