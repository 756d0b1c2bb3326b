// The HLS playlist model (RFC 8216 and draft-pantos-hls-rfc8216bis).
//
// Why not a library: `hls-parser` drops tags it does not know (e.g. `#EXT-X-CUE-OUT`, vendor tags) and
// reformats EXTINF; `m3u8-parser` only parses. An origin that rewrites playlists must keep every tag with
// the segment it belongs to, byte for byte, so this model keeps segment tags as raw lines and only
// interprets what rewriting needs.

export class PlaylistError extends Error {
  override name = 'PlaylistError';
}

/** Tags that describe the whole media playlist (RFC 8216 4.3.3), kept in the header. */
const MEDIA_PLAYLIST_TAGS = new Set([
  'EXT-X-VERSION', 'EXT-X-TARGETDURATION', 'EXT-X-MEDIA-SEQUENCE', 'EXT-X-DISCONTINUITY-SEQUENCE',
  'EXT-X-PLAYLIST-TYPE', 'EXT-X-I-FRAMES-ONLY', 'EXT-X-INDEPENDENT-SEGMENTS', 'EXT-X-START',
  'EXT-X-SERVER-CONTROL', 'EXT-X-PART-INF', 'EXT-X-ALLOW-CACHE', 'EXT-X-DEFINE', 'EXT-X-ENDLIST',
]);

/** Tags that only make sense after the last complete segment (low-latency hints, reports). */
const TRAILER_TAGS = new Set(['EXT-X-PREFETCH', 'EXT-X-PRELOAD-HINT', 'EXT-X-RENDITION-REPORT', 'EXT-X-PART', 'EXT-X-SKIP']);

const MASTER_TAGS = new Set(['EXT-X-STREAM-INF', 'EXT-X-I-FRAME-STREAM-INF', 'EXT-X-MEDIA', 'EXT-X-SESSION-DATA', 'EXT-X-SESSION-KEY', 'EXT-X-CONTENT-STEERING']);

export interface MediaSegment {
  /** The lines between the previous URI and this one, in order (EXTINF included). */
  tags: string[];
  uri: string;
  /** EXTINF duration in seconds. */
  duration: number;
  discontinuity: boolean;
  gap: boolean;
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

/** Parses an attribute list (RFC 8216 4.2). Quoted values lose their quotes. */
export function parseAttributes(text: string): Map<string, string> {
  const attrs = new Map<string, string>();
  const re = /([A-Z0-9-]+)=("[^"]*"|[^,]*)(?:,|$)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    if (m[0] === '') break;
    const v = m[2]!;
    attrs.set(m[1]!, v.startsWith('"') ? v.slice(1, -1) : v);
  }
  return attrs;
}

/** Rewrites the quoted URI="..." attribute of a tag line; returns the line unchanged without one. */
export function mapUriAttribute(line: string, fn: (uri: string) => string): string {
  return line.replace(/(^|[:,])URI="([^"]*)"/, (_all, sep: string, uri: string) => `${sep}URI="${fn(uri)}"`);
}

export function uriAttribute(line: string): string | undefined {
  return /(?:^|[:,])URI="([^"]*)"/.exec(line)?.[1];
}

function splitLines(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
}

function parseNumberTag(line: string, name: string): number {
  const v = Number(tagValue(line));
  if (!Number.isFinite(v) || v < 0) throw new PlaylistError(`bad ${name} value: '${tagValue(line)}'`);
  return v;
}

export function parsePlaylist(text: string): Playlist {
  if (text.includes('\0')) throw new PlaylistError('not a playlist (binary data)');
  const lines = splitLines(text);
  if (lines[0] !== '#EXTM3U') throw new PlaylistError('not a playlist (missing #EXTM3U)');
  const body = lines.slice(1);
  const isMaster = body.some((l) => l.startsWith('#') && MASTER_TAGS.has(tagName(l)));
  const isMedia = body.some((l) => l.startsWith('#EXTINF') || l.startsWith('#EXT-X-TARGETDURATION'));
  if (isMaster && isMedia) throw new PlaylistError('playlist mixes master and media tags');
  if (isMaster) return parseMaster(body);
  return parseMedia(body);
}

function parseMaster(lines: string[]): MasterPlaylist {
  let expectUri = false;
  for (const line of lines) {
    if (line.startsWith('#')) {
      if (expectUri && line.startsWith('#EXT-X-STREAM-INF')) throw new PlaylistError('EXT-X-STREAM-INF without a URI');
      if (line.startsWith('#EXT-X-STREAM-INF')) expectUri = true;
      continue;
    }
    if (!expectUri) throw new PlaylistError(`URI '${line}' without EXT-X-STREAM-INF`);
    expectUri = false;
  }
  if (expectUri) throw new PlaylistError('EXT-X-STREAM-INF without a URI');
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
      if (!extinf) throw new PlaylistError(`segment '${line}' without EXTINF`);
      const duration = Number(tagValue(extinf).split(',')[0]);
      if (!Number.isFinite(duration) || duration < 0) throw new PlaylistError(`bad EXTINF duration for '${line}'`);
      pl.segments.push({
        tags: pending, uri: line, duration,
        discontinuity: pending.includes('#EXT-X-DISCONTINUITY'),
        gap: pending.includes('#EXT-X-GAP'),
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
      case 'EXT-X-TARGETDURATION': pl.targetDuration = parseNumberTag(line, name); continue;
      case 'EXT-X-MEDIA-SEQUENCE': pl.mediaSequence = parseNumberTag(line, name); continue;
      case 'EXT-X-DISCONTINUITY-SEQUENCE': pl.discontinuitySequence = parseNumberTag(line, name); continue;
      case 'EXT-X-VERSION': pl.version = parseNumberTag(line, name); continue;
      case 'EXT-X-PLAYLIST-TYPE': pl.playlistType = tagValue(line); continue;
      case 'EXT-X-ENDLIST': pl.endList = true; continue;
      case 'EXT-X-MAP': map = line; break;
      case 'EXT-X-KEY':
        // Consecutive KEY tags form one set (several KEYFORMATs); a new run replaces the set.
        if (keysFromPrevious) { keys = []; keysFromPrevious = false; }
        keys = [...keys, line];
        break;
    }
    if (MEDIA_PLAYLIST_TAGS.has(name)) pl.header.push(line);
    else pending.push(line);
  }
  if (pl.targetDuration < 0) throw new PlaylistError('media playlist without EXT-X-TARGETDURATION');
  // Tags left after the last URI: hints belong to the trailer; anything else has no segment to belong to.
  pl.trailer = pending.filter((l) => l.startsWith('#EXT') && TRAILER_TAGS.has(tagName(l)));
  return pl;
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

/** Every URI a master playlist references: variant lines and URI= attributes. */
export function masterUris(pl: MasterPlaylist): string[] {
  const uris: string[] = [];
  for (const line of pl.lines) {
    if (!line.startsWith('#')) uris.push(line);
    else {
      const u = uriAttribute(line);
      if (u !== undefined) uris.push(u);
    }
  }
  return uris;
}
