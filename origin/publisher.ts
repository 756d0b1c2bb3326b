// The origin's playlist rewrite: a state machine per stream whose inputs are uploaded playlists and
// upload completions, and whose output is the published playlists. It does no I/O and reads no clock
// except through `now` (used only for retention, never for playlist content), so two origins fed the
// same uploads in the same order publish byte-identical playlists, and its state serializes to JSON.
//
// How it keeps the rules:
// - Every rendition keeps its own append-only log of published entries. The media sequence number of an
//   entry is its position in the log, so it can never go back, whatever the uploader does.
// - Restarts are detected per rendition by comparing the uploaded playlist with what that rendition's
//   uploader sent before (its own sequence numbers, "usn"): same usn with another file or other bytes, a
//   sequence that goes back below everything remembered, or a jump past the next expected usn.
// - A restart is handled for the whole stream: the first rendition that sees it opens a new epoch whose
//   base media sequence is one past the highest in any rendition; renditions that restart later join that
//   epoch with the same base, so the same moment has the same media sequence and discontinuity sequence in
//   every rendition (holes left by a rendition that lost a segment are filled with EXT-X-GAP entries).
// - Published names say what a segment is, from what the uploader sent and the stream's restart history,
//   never from this process's upload counter, so origins fed the same uploads agree even where one of
//   them missed an upload (see publishedName and docs/origin.md, "Names").
// - Every URI of an uploaded playlist (the tag table in src/playlist.ts says where they are) must stay
//   inside the stream, and no segment may last longer than a sanity bound: a playlist that breaks
//   either is refused before anything changes.
// - Masters are published with BANDWIDTH / AVERAGE-BANDWIDTH measured from the segments each rendition
//   uploads (see `measure`), never below what the uploader declared.
// - Low-latency HLS: a rendition whose playlist hints (EXT-X-PREFETCH) an fMP4 upload still being written,
//   which the origin cuts into parts (origin/segment-parts.ts), is published with EXT-X-PART tags: the parts
//   of that segment after the last one (its `partial`), of recent segments, a preload hint of the next part
//   and rendition reports (see `cutHinted`). The partial's media sequence number is spoken for: the segment
//   pushed at it lists the parts if it is their upload, or they leave the playlist (see `settlePartial`), and
//   a restart's epoch starts after it.
import { createHash } from 'node:crypto';
import { checkRelativePath } from '../src/stream-path.js';
import {
  mapUriAttribute, parseAttributeList, PlaylistError, requiredVersion, serializeMaster, serializeMedia, tagName, updateAttributes,
  uriAttribute, uriReferences, type Attribute, type MasterPlaylist, type MediaPlaylist, type MediaSegment, type UriReference,
} from '../src/playlist.js';
import {
  firstListingParts, partInfLine, partLine, partName, preloadHintLine, renditionReportLine, serverControlLine, withPartLines, type PartRecord,
} from './ll-playlist.js';

export interface FileVersion {
  id: number;
  hash: string;
  /** Bytes, when known: segments of known size are measured for the master's BANDWIDTH. */
  size?: number;
}

/**
 * What the publisher may know about uploaded files of its stream. `before` limits a question to uploads with
 * smaller ids, i.e. that started earlier: a playlist names what was uploaded before it arrived, never an
 * upload that starts later (which may be the next encoder run's file under the same name).
 */
export interface FileView {
  /** The completely uploaded version a stream-relative path means (among uploads below `before`). */
  complete(path: string, before?: number): FileVersion | undefined;
  /** The upload of this path still being written, if the path means one (among uploads below `before`). */
  writing(path: string, before?: number): { id: number } | undefined;
  /** Every upload started so far has an id below this. */
  started(): number;
  /** An upload by id, while it is in progress or stored (undefined once it failed or was dropped). */
  upload(id: number): { state: 'writing' } | { state: 'complete'; hash: string } | undefined;
  /**
   * Low-latency HLS: the parts cut from an upload. With `init` (the upload id of its init section) cutting may
   * start now, if the upload is still being written; without, only a cut already under way is reported.
   */
  parts?(upload: number, init?: number): UploadParts | undefined;
}

/** The parts cut from one upload (origin/segment-parts.ts). */
export interface UploadParts {
  parts: readonly { offset: number; length: number; seconds: number; independent: boolean }[];
  /** Where the part being filled starts counting: undefined once no further part can come. */
  next: number | undefined;
  /** The upload completed and its parts tile it: its segment may list them. */
  tiled: boolean;
  /** The wall clock at the segment's start (Unix ms) from the upload's bytes (`prft`), if they carry it. */
  producerTimeMs?: number | undefined;
}

/** Low-latency HLS: the segment being written, whose parts are published after the last segment. */
interface PartialSegment {
  /** Its media sequence number (the last segment's plus one, when its first part was published). */
  msn: number;
  /** The published name of its upload (its parts are named after it). */
  name: string;
  upload: number;
  parts: PartRecord[];
  tiled: boolean;
  /** UploadParts.producerTimeMs: the segment's EXT-X-PROGRAM-DATE-TIME when it lists these parts. */
  producerTimeMs?: number;
}

/** Where a low-latency playlist stands, for blocking playlist reloads (origin/reload-directives.ts). */
export interface LowLatencyPosition {
  /** Media sequence number of the last segment, and how many parts it lists (0: none). */
  msn: number;
  parts: number;
  /** The segment being written: its media sequence number and its parts so far. */
  partial?: { msn: number; parts: number };
  partTargetMs: number;
  targetDuration: number;
  endList: boolean;
}

export interface Entry {
  msn: number;
  /** Discontinuity sequence number of this segment. */
  disc: number;
  /** The uploader's sequence number (-1 for filler gaps). */
  usn: number;
  /** Stream-relative published name (see publishedName). */
  name: string;
  /** The upload it serves (a gap: the one it borrows). */
  upload: number;
  hash: string;
  /** URI as published, relative to the playlist. */
  uri: string;
  tags: string[];
  duration: number;
  /** Size of the segment (its byte range, else its upload); undefined for gaps and entries of older state. */
  bytes?: number;
  /** Where a byte-range segment starts in its upload: several segments may publish one upload. */
  offset?: number;
  discontinuity: boolean;
  /** The EXT-X-MAP line in force (published form), the stream-relative name it points to and its upload. */
  map?: string;
  mapName?: string;
  mapUpload?: number;
  keys: string[];
  /** Low-latency HLS: its parts, which tile it (named after `name`). */
  parts?: PartRecord[];
}

interface Retired {
  name: string;
  upload: number;
  /** A byte-range segment's offset in the upload (see Entry.offset). */
  offset?: number;
  /** Parts published for it, which stay servable as long as it does. */
  parts?: PartRecord[];
  /** ms since epoch when it left the window */
  at: number;
}

interface RenditionState {
  epoch: number;
  entries: Entry[];
  retired: Retired[];
  /** Recent uploader entries as [usn, source, hash, upload id], oldest first. */
  history: [number, string, string, number][];
  /** Segment count of the newest accepted playlist. */
  lastLength: number;
  lastUsn: number;
  lastMsn: number;
  lastDisc: number;
  /** The next appended entry starts this rendition's part of the current epoch. */
  epochStart: boolean;
  /** Segments of this epoch bind only uploads from this id on: an older upload under a reused name is the previous run's. */
  epochMinUpload: number;
  /** Set while this rendition lags behind a newer epoch: the first media sequence number that epoch gave out, which it may not take. */
  capMsn?: number;
  longestUpload: number;
  targetDuration: number;
  version?: number;
  playlistType?: string;
  header: string[];
  trailer: string[];
  endList: boolean;
  /** The newest accepted uploaded playlist, re-read when held-back segments finish uploading. */
  source?: MediaPlaylist;
  /** `source` binds only uploads with ids below this: those started before it arrived (absent in older saved state: any). */
  sourceBefore?: number;
  /** Names a segment of this rendition is published under are rooted here (see publishedName); set by its first segment. */
  root?: string;
  /** What the root is made from besides that segment (see rootOf), as the newest playlist brought it, until the root is set. */
  salt?: string;
  /**
   * Names given out for uploads still to be listed (EXT-X-PREFETCH, EXT-X-PRELOAD-HINT, EXT-X-PART in the published
   * trailer), which may have been read under them: each stays that upload's until its sequence number is published.
   */
  claims: Record<string, Claim>;
  published?: string;
  /** The highest peak segment bit rate measured (bit/s; RFC 8216 4.3.4.2), over the rendition's life. */
  peakRate?: number;
  /** BANDWIDTH the master publishes for this rendition: the peak with headroom; rises only when a peak passes it. */
  bandwidth?: number;
  /** AVERAGE-BANDWIDTH the master publishes: the window's average bit rate with headroom (see AVERAGE_HEADROOM). */
  averageBandwidth?: number;
  /** Low-latency HLS: published with parts since a hinted upload of it was first cut; never unset. */
  lowLatency?: boolean;
  partial?: PartialSegment;
  /** The part a preload hint announces: the next of the segment being written. */
  /** `upload`: the segment's upload (absent in state written before it was kept). */
  preload?: { name: string; segment: string; index: number; upload?: number };
}

interface Claim {
  upload: number;
  epoch: number;
  usn: number;
  /** Known once the upload completed (it may be dropped later; its bytes may have been read in full). */
  hash?: string;
}

export interface PublisherState {
  epoch: number;
  base: { msn: number; usn: number; disc: number } | null;
  restarts: number;
  renditions: Record<string, RenditionState>;
  /** Published master playlists. */
  masters: Record<string, string>;
  /** The uploaded masters' lines, rendered again when a rendition's measured bandwidth changes. */
  masterUploads?: Record<string, string[]>;
}

/** Seconds: no encoder cuts minute-long live segments; an EXTINF beyond this is a broken or hostile uploader. */
export const DEFAULT_MAX_SEGMENT_DURATION = 60;

export interface PublisherLimits {
  /** Fewest segments a published window keeps (it grows to the uploader's longest playlist). */
  minWindow: number;
  maxWindow: number;
  /**
   * Longest EXTINF and EXT-X-TARGETDURATION accepted (s; default DEFAULT_MAX_SEGMENT_DURATION). The
   * published target duration never decreases, so one absurd value would stay for the stream's life
   * (and with it the playlist's max-age).
   */
  maxSegmentDuration?: number;
  /** Low-latency HLS: the part target (ms; EXT-X-PART-INF PART-TARGET); 0 or absent: no parts. */
  partTargetMs?: number;
}

/**
 * The published BANDWIDTH is the measured peak times this, rounded up to a kbit/s: it then covers
 * every peak seen, and changes only when a new peak passes it, i.e. rises by more than 10%. Players read
 * the master once, so a master that changes with every peak would buy nothing but edge refetches; one
 * that lags the peak would be the under-declaration this measurement exists to fix.
 */
const BANDWIDTH_HEADROOM = 1.1;
/**
 * AVERAGE-BANDWIDTH is the window's average times this, rounded up, and is published again when the
 * average rises past it or falls so far that it is AVERAGE_FALL times the average: so it stays between
 * the average and 15% above it (a player that reads it never sees less than the rendition needs) and
 * does not follow every segment.
 */
const AVERAGE_HEADROOM = 1.05;
const AVERAGE_FALL = 1.15;

function roundUpKbps(bitsPerSecond: number): number {
  return Math.ceil(bitsPerSecond / 1000) * 1000;
}

/** A published rendition as the metrics and the stream summary (src/stream-summary.ts) show it. */
export interface RenditionStats {
  path: string;
  msn: number;
  disc: number;
  epoch: number;
  targetDuration: number;
  endList: boolean;
  bandwidth: number | undefined;
  averageBandwidth: number | undefined;
  lowLatency: boolean;
}

export type ApplyOutcome = 'published' | 'restart' | 'unchanged' | 'held';

export function emptyPublisherState(): PublisherState {
  return { epoch: 0, base: null, restarts: 0, renditions: {}, masters: {} };
}

function dirOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? '' : path.slice(0, slash + 1);
}

/** Resolves a URI found in the playlist at `playlistPath` to a stream-relative path inside the stream. */
export function resolveUri(playlistPath: string, uri: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(uri) || uri.startsWith('/')) throw new PlaylistError('bad_uri', `absolute URI not allowed: '${uri}'`);
  if (uri.includes('?') || uri.includes('#')) throw new PlaylistError('bad_uri', `URI with query or fragment not allowed: '${uri}'`);
  const path = dirOf(playlistPath) + uri;
  const bad = checkRelativePath(path);
  if (bad) throw new PlaylistError('bad_uri', `bad URI '${uri}': ${bad}`);
  return path;
}

/** Key systems name keys by opaque identifiers that no client fetches from a host (FairPlay, inline keys). */
const KEY_IDENTIFIER = /^(?:skd|data):/i;

/** Every URI of every line must resolve inside the stream; key URIs may also be key identifiers. */
function checkUris(playlistPath: string, lines: Iterable<string>): void {
  for (const line of lines) {
    for (const ref of uriReferences(line)) {
      if (ref.key && KEY_IDENTIFIER.test(ref.uri)) continue;
      try {
        resolveUri(playlistPath, ref.uri);
      } catch (err) {
        throw where(err, ref, line);
      }
    }
  }
}

function where(err: unknown, ref: UriReference, line: string): unknown {
  if (!(err instanceof PlaylistError) || !line.startsWith('#')) return err;
  return new PlaylistError(err.reason, `${tagName(line)}${ref.attribute ? ` ${ref.attribute}` : ''}: ${err.message}`);
}

function* mediaLines(pl: MediaPlaylist): Generator<string> {
  yield* pl.header;
  for (const seg of pl.segments) {
    yield* seg.tags;
    yield seg.uri;
  }
  yield* pl.trailer;
}

/** `720p/seg0.ts` + `3f2a9c1e-0-8` -> `720p/seg0.3f2a9c1e-0-8.ts`: the tag goes before the extension. */
export function publishedName(source: string, tag: string): string {
  const dir = dirOf(source);
  const base = source.slice(dir.length);
  const dot = base.lastIndexOf('.');
  // Without an extension (or with an empty one: `seg.`), the tag goes last.
  return dot <= 0 || dot === base.length - 1 ? `${source}.${tag}` : `${dir}${base.slice(0, dot)}.${tag}${base.slice(dot)}`;
}

/**
 * The tag of a segment: where it is in the stream. Within one epoch (one encoder run, as the publisher
 * detects them) the uploader's sequence number names one segment, and bytes that differ under a number
 * already published are a restart, i.e. a new epoch; the root tells this state's history from any other
 * (a restart of the origin without state roots its renditions again, from the bytes of their first segment).
 */
function segmentTag(r: RenditionState, usn: number): string {
  return `${r.root}-${r.epoch}-${usn}`;
}

/**
 * The tag of a file several entries may share (an EXT-X-MAP init section, a file of byte-range segments, which
 * a growing single file uploads again with more bytes): its content. Such files are always complete when named.
 */
function contentTag(hash: string): string {
  return hash.slice(0, 16);
}

/**
 * A rendition's root, set when it publishes its first segment: from that segment (path, sequence number,
 * bytes), so that origins fed the same uploads agree without asking each other, and from a salt, so that
 * an origin restarted without its state roots its renditions anew even when the encoder reproduces its
 * first segment byte for byte (a static slate): the uploader's feed id (`Cascade-Feed`, which the fan-out
 * sends, one per fan-out process), and for an origin without peers its own boot tag (docs/origin.md, "Names").
 */
function rootOf(path: string, usn: number, hash: string, salt: string): string {
  return createHash('sha256').update(`${path}\n${usn}\n${hash}\n${salt}`).digest('hex').slice(0, 8);
}

function relativeTo(playlistPath: string, path: string): string {
  return path.slice(dirOf(playlistPath).length);
}

const HINT_TAGS = new Set(['EXT-X-PREFETCH', 'EXT-X-PRELOAD-HINT', 'EXT-X-PART']);
/** Names hinted ahead of their segments that a rendition keeps (an uploader hints one or two). */
const MAX_CLAIMS = 64;

interface Candidate {
  seg: MediaSegment;
  usn: number;
  source: string;
  mapSource?: string;
}

export class Publisher {
  constructor(readonly state: PublisherState, private readonly limits: PublisherLimits) {
    for (const [path, r] of Object.entries(state.renditions)) upgradeRendition(path, r);
  }

  /** Throws PlaylistError for a playlist that cannot be published; changes nothing. */
  validateMedia(path: string, pl: MediaPlaylist): void {
    checkUris(path, mediaLines(pl));
    const max = this.limits.maxSegmentDuration ?? DEFAULT_MAX_SEGMENT_DURATION;
    if (pl.targetDuration > max) throw new PlaylistError('duration_too_long', `EXT-X-TARGETDURATION ${pl.targetDuration} is longer than ${max} s`);
    for (const seg of pl.segments) {
      if (seg.duration > max) throw new PlaylistError('duration_too_long', `EXTINF ${seg.duration} of '${seg.uri}' is longer than ${max} s`);
    }
  }

  validateMaster(path: string, pl: MasterPlaylist): void {
    checkUris(path, pl.lines);
  }

  applyMaster(path: string, pl: MasterPlaylist): ApplyOutcome {
    this.validateMaster(path, pl);
    (this.state.masterUploads ??= {})[path] = pl.lines;
    const text = this.renderMaster(path, pl.lines);
    if (this.state.masters[path] === text) return 'unchanged';
    this.state.masters[path] = text;
    return 'published';
  }

  /** Renders every master again with the renditions' measured bandwidth; returns the paths that changed. */
  renderMasters(): string[] {
    const changed: string[] = [];
    for (const [path, lines] of Object.entries(this.state.masterUploads ?? {})) {
      const text = this.renderMaster(path, lines);
      if (this.state.masters[path] === text) continue;
      this.state.masters[path] = text;
      changed.push(path);
    }
    return changed;
  }

  /**
   * A master as uploaded, with BANDWIDTH / AVERAGE-BANDWIDTH of each variant whose rendition has been
   * measured: its own rate plus, for each AUDIO and SUBTITLES group it names, the group's highest (RFC
   * 8216 4.3.4.2: "the largest sum of peak segment bit rates ... of any playable combination").
   */
  private renderMaster(path: string, lines: string[]): string {
    const rendition = (uri: string | undefined) => (uri === undefined ? undefined : this.state.renditions[resolveUri(path, uri)]);
    const renditions = lines.filter((l) => tagName(l) === 'EXT-X-MEDIA').map((l) => {
      const attrs = attributesOf(l);
      return { type: attrs.get('TYPE'), group: attrs.get('GROUP-ID'), r: rendition(attrs.get('URI')) };
    });
    const rendered = lines.map((line, i) => {
      const name = tagName(line);
      if (!line.startsWith('#') || (name !== 'EXT-X-STREAM-INF' && name !== 'EXT-X-I-FRAME-STREAM-INF')) return line;
      const attrs = attributesOf(line);
      const own = rendition(name === 'EXT-X-STREAM-INF' ? lines.slice(i + 1).find((l) => !l.startsWith('#')) : attrs.get('URI'));
      if (own?.bandwidth === undefined) return line;
      let peak = own.bandwidth;
      let average = own.averageBandwidth ?? 0;
      for (const type of ['AUDIO', 'SUBTITLES']) {
        const group = name === 'EXT-X-STREAM-INF' ? attrs.get(type) : undefined;
        const members = renditions.filter((m) => m.type === type && m.group === group && group !== undefined);
        peak += Math.max(0, ...members.map((m) => m.r?.bandwidth ?? 0));
        average += Math.max(0, ...members.map((m) => m.r?.averageBandwidth ?? 0));
      }
      const declared = Number(attrs.get('BANDWIDTH'));
      return updateAttributes(line, (list) => withBandwidth(list, Math.max(declared, peak, average), own.averageBandwidth !== undefined ? average : undefined));
    });
    return serializeMaster({ type: 'master', lines: rendered });
  }

  /**
   * Redundant origins: segments of an uploaded media playlist this origin has no upload of, which would be
   * published as gaps, with the name a peer fed the same uploads publishes each under (the one this origin
   * would give it: names agree, see segmentTag). Only while the rendition's names are rooted and for its
   * current epoch (a playlist that starts a new one names other segments: asked for, the peer has none).
   */
  missingSegments(path: string, pl: MediaPlaylist, files: FileView): { source: string; name: string }[] {
    const r = this.state.renditions[path];
    if (r?.root === undefined) return [];
    const candidates = candidatesOf(path, pl);
    // The last one may simply not have arrived yet: it becomes a gap only once a later one is there.
    return candidates.slice(0, -1).flatMap((c) => {
      if (c.usn <= r.lastUsn || c.seg.byteRange !== undefined) return [];
      if (files.complete(c.source) !== undefined || files.writing(c.source) !== undefined) return [];
      return [{ source: c.source, name: publishedName(c.source, segmentTag(r, c.usn)) }];
    });
  }

  /** Applies a newly uploaded media playlist; `salt` roots the rendition's names if it has none yet (see rootOf). */
  applyMedia(path: string, pl: MediaPlaylist, files: FileView, now: number, salt = ''): ApplyOutcome {
    this.validateMedia(path, pl);
    const r = (this.state.renditions[path] ??= newRendition(this.state.epoch));
    if (r.root === undefined) r.salt = salt;
    const candidates = candidatesOf(path, pl);
    if (this.state.base === null && candidates.length > 0) {
      // The stream's first playlist keeps the uploader's numbering.
      const first = candidates[0]!;
      this.state.base = { msn: first.usn, usn: first.usn, disc: pl.discontinuitySequence + (first.seg.discontinuity ? 1 : 0) };
    }
    const verdict = this.classify(r, candidates, files);
    if (verdict === 'late') return 'unchanged';
    // An older view of this run arriving late (it ends before the playlist in force: a live playlist only
    // grows at its end) changes nothing. Taken as the source, it would hide what the newer one lists until
    // the next playlist, and the state written before it would bring that back at a restart.
    // (Neither is empty here: a playlist without segments is a late one.)
    if (verdict === 'append' && r.source !== undefined && pl.mediaSequence + pl.segments.length < r.source.mediaSequence + r.source.segments.length) return 'unchanged';
    if (verdict !== 'append') {
      // A new run binds only its own uploads (from its first segment's on) under reused names; a jump (lost
      // segments, or new numbers, which come with new names) keeps the floor it had.
      const first = candidates[0]!.source;
      this.startEpoch(r, candidates[0]!.usn, verdict === 'jump' ? r.epochMinUpload : files.complete(first)?.id ?? files.writing(first)?.id ?? r.epochMinUpload);
    }
    r.source = pl;
    r.sourceBefore = files.started();
    r.lastLength = pl.segments.length;
    r.longestUpload = Math.max(r.longestUpload, pl.segments.length);
    r.header = pl.header;
    r.trailer = pl.trailer;
    r.version = pl.version;
    r.playlistType = pl.playlistType;
    r.targetDuration = Math.max(r.targetDuration, pl.targetDuration);
    const before = r.published;
    const complete = this.append(path, r, candidates.filter((c) => c.usn > r.lastUsn), files, now);
    r.endList = pl.endList && complete;
    this.render(path, r, files, complete);
    if (verdict !== 'append') return 'restart';
    if (r.published === before) return complete ? 'unchanged' : 'held';
    return 'published';
  }

  /** Re-reads held-back segments of every rendition after an upload finished (or failed); returns what changed, masters too. */
  uploadsChanged(files: FileView, now: number): string[] {
    const changed: string[] = [];
    for (const [path, r] of Object.entries(this.state.renditions)) {
      if (!r.source) continue;
      const before = r.published;
      const candidates = candidatesOf(path, r.source).filter((c) => c.usn > r.lastUsn);
      const complete = this.append(path, r, candidates, files, now);
      r.endList = r.source.endList && complete;
      this.render(path, r, files, complete);
      if (r.published !== before) changed.push(path);
    }
    return [...changed, ...this.renderMasters()];
  }

  private classify(r: RenditionState, candidates: Candidate[], files: FileView): 'append' | 'restart' | 'jump' | 'late' {
    const verdict = this.compare(r, candidates, files);
    // A restart comes with uploads of its own. A playlist whose every upload was published already, or
    // predates this rendition's epoch, is a late one (of this encoder run or an earlier one): taken for a
    // restart, it would open an epoch for nothing, or publish the old segments again.
    if (verdict === 'restart' || verdict === 'jump') {
      const published = publishedSegments(r);
      const uploads = candidates.flatMap((c) => {
        const f = files.complete(c.source) ?? files.writing(c.source);
        return f ? [{ id: f.id, key: segmentKey(f.id, c.seg.byteRange?.offset) }] : [];
      });
      if (uploads.length > 0 && uploads.every((u) => u.id < r.epochMinUpload || published.has(u.key))) return 'late';
    }
    return verdict;
  }

  /** The verdict from the uploader's sequence numbers, names and bytes alone. */
  private compare(r: RenditionState, candidates: Candidate[], files: FileView): 'append' | 'restart' | 'jump' | 'late' {
    if (candidates.length === 0) return 'late';
    if (r.lastUsn < 0 && r.entries.length === 0) return 'append';
    const known = new Map(r.history.map(([usn, source, hash, id]) => [usn, { source, hash, id }]));
    let overlap = false;
    let reuploaded = false;
    for (const c of candidates) {
      const h = known.get(c.usn);
      if (!h) continue;
      overlap = true;
      if (h.source !== c.source) return 'restart';
      // A gap (id -1) had no upload to compare with: one arriving later is not other bytes.
      const now = h.id === -1 ? undefined : files.complete(c.source);
      if (now && now.hash !== h.hash) return 'restart';
      if (now && now.id !== h.id) reuploaded = true;
    }
    const first = candidates[0]!.usn;
    const last = candidates[candidates.length - 1]!.usn;
    // A shrunken playlist whose segments were uploaded again is an encoder that started over and happens
    // to produce the same bytes (a test pattern does); a late playlist never comes with new uploads.
    if (overlap && reuploaded && last < r.lastUsn && candidates.length < r.lastLength) return 'restart';
    if (overlap) return 'append';
    const oldest = r.history.length > 0 ? r.history[0]![0] : r.lastUsn;
    if (last < oldest) return 'restart'; // the sequence went back below everything we remember
    if (last <= r.lastUsn) return 'late';
    if (first === r.lastUsn + 1) return 'append';
    return 'jump'; // a jump forward: segments were lost or the encoder started over with new numbers
  }

  private startEpoch(r: RenditionState, firstUsn: number, minUpload: number): void {
    const s = this.state;
    if (r.epoch === s.epoch) {
      const renditions = Object.values(s.renditions);
      s.epoch++;
      s.restarts++;
      s.base = {
        // A segment whose parts are out counts as given out: the epoch must not take its number.
        msn: Math.max(-1, ...renditions.map((x) => x.partial?.msn ?? x.lastMsn)) + 1,
        usn: firstUsn,
        disc: Math.max(0, ...renditions.map((x) => x.lastDisc)) + 1,
      };
      for (const x of renditions) x.capMsn ??= s.base.msn;
    }
    r.epoch = s.epoch;
    r.epochStart = true;
    r.epochMinUpload = minUpload;
    r.history = [];
    r.lastUsn = firstUsn - 1;
  }

  /** Appends what is ready; returns false when something was held back. */
  private append(path: string, r: RenditionState, candidates: Candidate[], files: FileView, now: number): boolean {
    const s = this.state;
    const before = r.sourceBefore;
    // A segment (an upload, or a byte range of one) is published at most once per rendition: a candidate
    // that would bind one already in the window or recently retired is an old segment listed again, never
    // to be republished under a new number.
    const published = publishedSegments(r);
    /** The upload a segment binds: one its playlist could know, of this epoch (an older one under a reused name is the previous run's), not yet published. */
    const bindable = (c: Candidate) => {
      const f = files.complete(c.source, before);
      return f !== undefined && f.id >= r.epochMinUpload && !published.has(segmentKey(f.id, c.seg.byteRange?.offset)) ? f : undefined;
    };
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[i]!;
      // A rendition joining an epoch that a restart opened starts at the epoch's first segment: what comes
      // before it belongs to the previous epoch, whose numbers the other renditions already gave out.
      if (r.epochStart && s.epoch > 0 && c.usn < s.base!.usn) continue;
      const candidate = bindable(c);
      // A byte range past the end of the upload is not servable (yet: a growing single file is uploaded again).
      const range = c.seg.byteRange;
      const fits = range === undefined || candidate?.size === undefined || range.offset + range.length <= candidate.size;
      const file = fits ? candidate : undefined;
      const map = c.mapSource !== undefined ? files.complete(c.mapSource, before) : undefined;
      let last = r.entries[r.entries.length - 1];
      let gap = false;
      if (file === undefined || (c.mapSource !== undefined && map === undefined)) {
        // A segment whose upload failed, with later ones already here, becomes a gap so the rendition stays
        // aligned with the others; one still being written, or the newest one, is waited for. A gap needs
        // a servable URI, so it borrows the previous segment's.
        const writing = files.writing(c.source, before) ?? (c.mapSource !== undefined ? files.writing(c.mapSource, before) : undefined);
        const laterReady = candidates.slice(i + 1).some((d) => bindable(d) !== undefined);
        const uploaderGap = c.seg.gap && last !== undefined;
        if (!uploaderGap && (writing !== undefined || !laterReady || last === undefined)) return false;
        gap = true;
      }
      let msn = r.lastMsn + 1;
      /** The discontinuity sequence number this rendition's part of the epoch starts with. */
      const epochDisc = Math.max(s.base?.disc ?? 0, r.lastDisc + 1);
      if (r.epochStart) {
        const base = s.base!;
        // Its numbers come from the newest epoch's base, so that is the epoch it is in, even if a restart
        // opened it while this rendition's first playlist (or first after its own restart) was held back.
        r.epoch = s.epoch;
        msn = Math.max(base.msn + (c.usn - base.usn), r.lastMsn + 1, 0);
        this.fillGaps(r, msn, now, { msn: base.msn, disc: epochDisc });
        delete r.capMsn;
        last = r.entries[r.entries.length - 1];
        if (gap && last === undefined) return false;
      } else if (r.capMsn !== undefined && msn >= r.capMsn) {
        // The stream moved on to a newer epoch: late uploads of the old encoder may not take its numbers.
        break;
      }
      // Continuing after an older epoch's entries (unless gap entries already crossed into this one).
      const continuesOthers = r.epochStart && r.lastMsn >= 0 && r.lastDisc < epochDisc;
      const discontinuity = c.seg.discontinuity || continuesOthers;
      const disc = continuesOthers ? epochDisc
        : r.epochStart && r.lastMsn < 0 ? s.base!.disc
        : r.lastDisc + (discontinuity ? 1 : 0);
      // A gap borrows the previous segment's URI and init section: its own MAP and byte range name an upload
      // that is not published.
      let tags = gap ? c.seg.tags.filter((t) => tagName(t) !== 'EXT-X-MAP' && tagName(t) !== 'EXT-X-BYTERANGE') : c.seg.tags;
      let mapFields: Pick<Entry, 'map' | 'mapName' | 'mapUpload'> = {};
      if (map !== undefined && c.seg.map !== undefined) {
        const mapName = publishedName(c.mapSource!, contentTag(map.hash));
        const line = mapUriAttribute(c.seg.map, () => relativeTo(path, mapName));
        tags = tags.map((t) => (tagName(t) === 'EXT-X-MAP' ? line : t));
        if (last?.map !== line && !tags.some((t) => tagName(t) === 'EXT-X-MAP')) tags = [line, ...tags];
        mapFields = { map: line, mapName, mapUpload: map.id };
      } else if (gap && last?.map !== undefined) {
        mapFields = { map: last.map, mapName: last.mapName!, mapUpload: last.mapUpload! };
      }
      if (continuesOthers && !tags.includes('#EXT-X-DISCONTINUITY')) tags = ['#EXT-X-DISCONTINUITY', ...tags];
      if (gap && !tags.includes('#EXT-X-GAP')) tags = [...tags, '#EXT-X-GAP'];
      if (range !== undefined && !gap) {
        // An omitted offset means "after the previous segment's range", which need not hold in the published
        // window (it may start here, or the previous segment may be another upload): write it out.
        tags = tags.map((t) => (tagName(t) === 'EXT-X-BYTERANGE' && !t.includes('@') ? `#EXT-X-BYTERANGE:${range.length}@${range.offset}` : t));
      }
      const offset = gap ? undefined : range?.offset;
      const upload = gap ? last!.upload : file!.id;
      if (!gap && r.root === undefined) {
        r.root = rootOf(path, c.usn, file!.hash, r.salt ?? '');
        delete r.salt;
      }
      const name = gap ? last!.name : this.segmentName(r, c, file!, files)!;
      published.add(segmentKey(upload, offset));
      if (r.partial) updatePartial(r.partial, files.parts?.(r.partial.upload));
      this.push(r, {
        msn, disc, usn: c.usn, name, upload, hash: gap ? last!.hash : file!.hash,
        uri: relativeTo(path, name), tags, duration: c.seg.duration, bytes: gap ? undefined : range?.length ?? file!.size,
        ...(offset !== undefined ? { offset } : {}), discontinuity, ...mapFields, keys: c.seg.keys,
      }, now);
      r.epochStart = false;
      r.lastUsn = c.usn;
      r.history.push([c.usn, c.source, gap ? '' : file!.hash, gap ? -1 : file!.id]);
    }
    const keep = 2 * this.limits.maxWindow;
    if (r.history.length > keep) r.history.splice(0, r.history.length - keep);
    return true;
  }

  /**
   * Fills a hole in this rendition's numbering with gap entries pointing at its last real segment. Gaps from
   * the epoch's first media sequence number on belong to the epoch: the first of them carries its discontinuity.
   */
  private fillGaps(r: RenditionState, target: number, now: number, epoch: { msn: number; disc: number }): void {
    const last = r.entries[r.entries.length - 1];
    if (!last || target <= r.lastMsn + 1) return;
    if (r.lastMsn + 1 < epoch.msn && (r.capMsn ?? epoch.msn) < epoch.msn) {
      // Epochs this rendition never joined gave out numbers in the hole, with discontinuity sequence numbers
      // it does not know: rather than guess them, its window starts over at the target.
      if (r.partial) this.settlePartial(r, undefined, now);
      this.retire(r, r.entries.splice(0), now);
      r.lastMsn = target - 1;
      return;
    }
    const count = Math.min(target - r.lastMsn - 1, this.windowSize(r));
    r.lastMsn = target - 1 - count;
    // The duration as uploaded: a JS number may print as `1e-7`, which is no decimal-floating-point.
    const duration = last.tags.find((t) => tagName(t) === 'EXTINF')!.slice('#EXTINF:'.length).split(',')[0]!;
    for (let i = 0; i < count; i++) {
      const msn = r.lastMsn + 1;
      const crossing = msn >= epoch.msn && r.lastDisc < epoch.disc;
      this.push(r, {
        // A gap borrows the last segment's URI, not its parts: they are of that segment's media.
        ...last, msn, usn: -1, discontinuity: crossing, disc: crossing ? epoch.disc : r.lastDisc, bytes: undefined, parts: undefined,
        tags: [...(crossing ? ['#EXT-X-DISCONTINUITY'] : []), `#EXTINF:${duration},`, '#EXT-X-GAP'],
      }, now);
    }
  }

  private windowSize(r: RenditionState): number {
    return Math.min(this.limits.maxWindow, Math.max(this.limits.minWindow, r.longestUpload));
  }

  private push(r: RenditionState, entry: Entry, now: number): void {
    if (r.partial && entry.msn >= r.partial.msn) this.settlePartial(r, entry, now);
    r.entries.push(entry);
    r.lastMsn = entry.msn;
    r.lastDisc = entry.disc;
    r.targetDuration = Math.max(r.targetDuration, Math.round(entry.duration));
    const excess = r.entries.length - this.windowSize(r);
    if (excess > 0) this.retire(r, r.entries.splice(0, excess), now);
    if (entry.bytes !== undefined) measure(r);
  }

  /** Entries that left the window stay servable for the grace period, with their parts. */
  private retire(r: RenditionState, entries: Entry[], now: number): void {
    for (const old of entries) {
      r.retired.push({
        name: old.name, upload: old.upload, ...(old.offset !== undefined ? { offset: old.offset } : {}), ...(old.parts ? { parts: old.parts } : {}), at: now,
      });
      if (old.mapName !== undefined) r.retired.push({ name: old.mapName, upload: old.mapUpload!, at: now });
    }
  }

  /**
   * The partial's media sequence number is taken (`entry`), or the window starts over (undefined). The entry
   * lists the parts when it is their segment, complete and tiled by them; otherwise they leave the playlist
   * and stay servable for the grace period, and their upload, now retired, can never be bound under another
   * number (its part URIs were published under this one).
   */
  private settlePartial(r: RenditionState, entry: Entry | undefined, now: number): void {
    const p = r.partial!;
    delete r.partial;
    delete r.preload;
    if (entry?.msn === p.msn && entry.name === p.name && entry.offset === undefined && p.tiled) {
      entry.parts = p.parts;
      if (p.producerTimeMs !== undefined) entry.tags = withProgramDateTime(entry.tags, p.producerTimeMs);
      return;
    }
    r.retired.push({ name: p.name, upload: p.upload, parts: p.parts, at: now });
  }

  private render(path: string, r: RenditionState, files: FileView, complete: boolean): void {
    if (r.entries.length === 0) return;
    const hinted = complete ? this.resolveHints(path, r, files) : [];
    if (this.limits.partTargetMs) this.cutHinted(path, r, files, hinted);
    // Only a name the playlist gives out is claimed: a low-latency one carries none of the uploader's hints,
    // only the parts and preload hint of the segment being written (a claim of a name nobody was given would
    // keep its upload stored, unreachable, for as long as the rendition waits to publish that number).
    const given = r.lowLatency ? hinted.filter((h) => h.name === r.partial?.name || h.name === r.preload?.segment) : hinted;
    for (const h of given) r.claims[h.name] ??= h.claim;
    this.endClaims(r, new Set(given.map((h) => h.name)));
    const first = r.entries[0]!;
    const pl: MediaPlaylist = {
      type: 'media',
      ...(r.version !== undefined ? { version: r.version } : {}),
      targetDuration: r.targetDuration,
      mediaSequence: first.msn,
      discontinuitySequence: first.disc - (first.discontinuity ? 1 : 0),
      ...(r.playlistType !== undefined ? { playlistType: r.playlistType } : {}),
      header: r.header,
      segments: r.entries.map((e) => ({
        tags: e.tags, uri: e.uri, duration: e.duration, discontinuity: e.discontinuity, gap: false,
        ...(e.map !== undefined ? { map: e.map } : {}), keys: e.keys,
      })),
      trailer: hinted.map((h) => h.line),
      endList: r.endList,
    };
    const out = r.lowLatency ? this.withParts(path, r, pl) : pl;
    const text = serializeMedia(out);
    const version = requiredVersion(text.split('\n'));
    r.published = version > (pl.version ?? 1) ? serializeMedia({ ...out, version }) : text;
  }

  /**
   * The uploaded hints (EXT-X-PREFETCH, -PRELOAD-HINT, -PART after the last segment) whose uploads exist, rewritten
   * to their published names, each with the claim its upload makes if the playlist gives the name out. Hints name what comes after the uploader's last
   * segment: the next sequence number (the i-th EXT-X-PREFETCH the i-th after it), or an init section, named by
   * its content once complete.
   */
  private resolveHints(path: string, r: RenditionState, files: FileView): { tag: string; upload: number; name: string; line: string; claim: Claim }[] {
    const next = r.source!.mediaSequence + r.source!.segments.length;
    let prefetch = 0;
    return r.trailer.flatMap((line) => {
      const uri = hintUri(line);
      if (uri === undefined) return [];
      const tag = tagName(line);
      const usn = tag === 'EXT-X-PREFETCH' ? next + prefetch++ : next;
      // An older playlist taken up again hints what was published since: that name is taken.
      if (usn <= r.lastUsn) return [];
      const source = resolveUri(path, uri);
      const upload: { id: number; hash?: string } | undefined = files.writing(source) ?? files.complete(source);
      if (upload === undefined) return [];
      const name = isMapHint(line)
        ? (upload.hash !== undefined ? publishedName(source, contentTag(upload.hash)) : undefined)
        : this.segmentName(r, { usn, source }, upload, files);
      if (name === undefined) return [];
      const claim: Claim = { upload: upload.id, epoch: r.epoch, usn, ...(upload.hash !== undefined ? { hash: upload.hash } : {}) };
      const rel = relativeTo(path, name);
      return [{ tag, upload: upload.id, name, line: tag === 'EXT-X-PREFETCH' ? `#EXT-X-PREFETCH:${rel}` : mapUriAttribute(line, () => rel), claim }];
    });
  }

  /** A claim ends when its name is neither hinted any more nor still to be published in this epoch; a rendition keeps MAX_CLAIMS. */
  private endClaims(r: RenditionState, hinted: Set<string>): void {
    const claims = Object.entries(r.claims).filter(([name, claim]) => {
      const keep = hinted.has(name) || (claim.epoch === r.epoch && claim.usn > r.lastUsn);
      if (!keep) delete r.claims[name];
      return keep;
    });
    if (claims.length > MAX_CLAIMS) {
      for (const [name] of claims.sort((a, b) => a[1].usn - b[1].usn).slice(0, claims.length - MAX_CLAIMS)) delete r.claims[name];
    }
  }

  /**
   * Low-latency HLS: the segment being written is the upload the first EXT-X-PREFETCH names, cut into parts
   * with the init section in force at the end of the uploaded playlist. Its parts are published at the
   * media sequence number after the last segment, so only while that number is this rendition's to give:
   * not while it waits to join an epoch, nor when a newer epoch took it, nor while an earlier partial still
   * holds it (it is settled when a segment is pushed at its number).
   */
  private cutHinted(path: string, r: RenditionState, files: FileView, hinted: { tag: string; upload: number; name: string }[]): void {
    const hint = hinted.find((h) => h.tag === 'EXT-X-PREFETCH');
    const map = r.source?.segments.at(-1)?.map;
    const mapSource = map !== undefined ? uriAttribute(map) : undefined;
    const init = mapSource !== undefined ? files.complete(resolveUri(path, mapSource))?.id : undefined;
    const msn = r.lastMsn + 1;
    const free = !r.epochStart && (r.capMsn === undefined || msn < r.capMsn) && (r.partial === undefined || r.partial.upload === hint?.upload);
    // Never again for an upload whose parts were withdrawn (an encoder restarted under the same names while
    // its old upload trickles on): its parts keep the number they were listed under.
    const withdrawn = r.partial === undefined && r.retired.some((x) => x.name === hint?.name);
    const cut = hint !== undefined && init !== undefined && free && !withdrawn ? files.parts?.(hint.upload, init) : undefined;
    delete r.preload;
    if (cut === undefined || hint === undefined) return;
    r.lowLatency = true;
    // A partial opens only while its upload goes on: a finished one (hinted again by a late playlist) is a segment or never will be.
    if (cut.parts.length > 0 && (r.partial !== undefined || cut.next !== undefined)) {
      r.partial ??= { msn, name: hint.name, upload: hint.upload, parts: [], tiled: false };
      updatePartial(r.partial, cut);
    }
    if (cut.next !== undefined) r.preload = { name: partName(hint.name, cut.next), segment: hint.name, index: cut.next, upload: hint.upload };
  }

  /**
   * A low-latency rendition's playlist: EXT-X-SERVER-CONTROL and EXT-X-PART-INF in the header, the parts of
   * recent segments before their EXTINF, and after the last segment the partial's parts, the preload hint
   * and the rendition reports. The uploader's own low-latency tags give way (they describe its parts, not
   * the origin's).
   */
  private withParts(path: string, r: RenditionState, pl: MediaPlaylist): MediaPlaylist {
    const partTargetMs = this.limits.partTargetMs!;
    const lines = (segment: string, parts: readonly PartRecord[]) => parts.map((p, i) => partLine(relativeTo(path, partName(segment, i)), p));
    const after = r.partial?.parts.reduce((sum, p) => sum + p.duration, 0) ?? 0;
    const from = firstListingParts(r.entries.map((e) => e.duration), r.targetDuration, after);
    return {
      ...pl,
      header: [serverControlLine(r.targetDuration, partTargetMs), partInfLine(partTargetMs), ...pl.header.filter((l) => !UPLOADER_LL_TAGS.has(tagName(l)))],
      segments: pl.segments.map((seg, i) => {
        const e = r.entries[i]!;
        const tags = seg.tags.filter((t) => !UPLOADER_LL_TAGS.has(tagName(t)));
        return { ...seg, tags: i >= from && e.parts ? withPartLines(tags, lines(e.name, e.parts)) : tags };
      }),
      trailer: [
        ...(r.partial ? lines(r.partial.name, r.partial.parts) : []),
        ...(r.preload ? [preloadHintLine(relativeTo(path, r.preload.name))] : []),
        ...this.renditionReports(path),
      ],
    };
  }

  /**
   * EXT-X-RENDITION-REPORT for every other low-latency rendition a master names beside this one (in this
   * playlist's directory or below it: a report's URI is relative), as it stands when this one is rendered.
   */
  private renditionReports(path: string): string[] {
    const others: string[] = [];
    for (const [master, lines] of Object.entries(this.state.masterUploads ?? {})) {
      const named = renditionsOf(master, lines);
      if (!named.includes(path)) continue;
      for (const other of named) if (other !== path && !others.includes(other)) others.push(other);
    }
    return others.flatMap((other) => {
      const r = this.state.renditions[other];
      const last = r?.entries.at(-1);
      if (!r?.lowLatency || last === undefined || !other.startsWith(dirOf(path))) return [];
      const uri = relativeTo(path, other);
      if (r.partial) return [renditionReportLine(uri, r.partial.msn, r.partial.parts.length - 1)];
      return [renditionReportLine(uri, last.msn, last.parts ? last.parts.length - 1 : undefined)];
    });
  }

  /**
   * The name of a segment (a byte range: of its file), or of an upload a hint names before it is listed.
   * A name an upload in progress was hinted under stays that upload's (readers may have its bytes):
   * another upload of the path gets it only if the first failed, or has the same bytes; with other bytes
   * it is published under a name that adds its content once complete (undefined while it is not).
   */
  private segmentName(r: RenditionState, c: { usn: number; source: string; seg?: MediaSegment }, file: { id: number; hash?: string }, files: FileView): string | undefined {
    const hash = file.hash;
    if (c.seg?.byteRange !== undefined) return publishedName(c.source, contentTag(hash!));
    const name = publishedName(c.source, segmentTag(r, c.usn));
    const claim = r.claims[name];
    if (claim === undefined || claim.upload === file.id) return name;
    const holder = files.upload(claim.upload);
    if (holder?.state === 'complete') claim.hash = holder.hash;
    // Failed before completing: its readers were cut, never given a body that looked whole.
    if (holder === undefined && claim.hash === undefined) {
      delete r.claims[name];
      return name;
    }
    if (hash === undefined) return undefined;
    return hash === claim.hash ? name : publishedName(c.source, `${segmentTag(r, c.usn)}-${contentTag(hash)}`);
  }

  /** Published names that must stay servable, with the upload each serves: windows, hints, and what left a window recently. */
  *servable(): Generator<[string, number]> {
    for (const r of Object.values(this.state.renditions)) {
      const listed = new Set<string>();
      for (const e of r.entries) {
        yield [e.name, e.upload];
        listed.add(e.name);
        if (e.mapName !== undefined) yield [e.mapName, e.mapUpload!];
      }
      // A name the window lists serves its entry's upload. The same name may also be held by the upload of
      // a partial or claim that failed before completing (segmentName gives such a name out again: its
      // readers never got a body that looked whole); its parts are served by their own upload (servableParts).
      for (const [name, claim] of Object.entries(r.claims)) if (!listed.has(name)) yield [name, claim.upload];
      for (const x of [...(r.partial ? [r.partial] : []), ...r.retired]) if (!listed.has(x.name)) yield [x.name, x.upload];
    }
  }

  /** Low-latency HLS: every part that must stay servable (see `servable`), with its segment's upload and byte range. */
  *servableParts(): Generator<{ name: string; upload: number; offset: number; length: number }> {
    for (const r of Object.values(this.state.renditions)) {
      const all = [...r.entries, ...r.retired, ...(r.partial ? [r.partial] : [])];
      for (const x of all) {
        for (const [i, p] of (x.parts ?? []).entries()) yield { name: partName(x.name, i), upload: x.upload, offset: p.offset, length: p.length };
      }
    }
  }

  /** Low-latency HLS: the parts preload hints announce, by name, with their segment's published name and index. */
  *preloadHints(): Generator<{ name: string; segment: string; index: number; targetDuration: number }> {
    for (const r of Object.values(this.state.renditions)) {
      if (r.preload) yield { ...r.preload, targetDuration: r.targetDuration };
    }
  }

  /** Low-latency HLS: where the published playlist stands (undefined: not a low-latency playlist). */
  lowLatency(path: string): LowLatencyPosition | undefined {
    const r = this.state.renditions[path];
    const last = r?.entries.at(-1);
    if (!r?.lowLatency || last === undefined || !this.limits.partTargetMs) return undefined;
    return {
      msn: last.msn, parts: last.parts?.length ?? 0, ...(r.partial ? { partial: { msn: r.partial.msn, parts: r.partial.parts.length } } : {}),
      partTargetMs: this.limits.partTargetMs, targetDuration: r.targetDuration, endList: r.endList,
    };
  }

  /**
   * After an origin restart, when nothing is being written: preload hints go, and so do the parts of a
   * segment being written whose upload is not stored complete (`stored`), whose bytes were in memory; its
   * media sequence number stays spoken for, as with a restart mid-segment. A name hinted for an upload that
   * never completed goes too (its readers were cut, as when such an upload fails: segmentName gives the name
   * out again); the next render hints what the uploader's playlist names, if it can be served. Returns
   * whether anything changed.
   */
  withdrawUnwritten(stored: (upload: number) => boolean): boolean {
    let changed = false;
    for (const r of Object.values(this.state.renditions)) {
      if (r.preload) {
        delete r.preload;
        changed = true;
      }
      for (const [name, claim] of Object.entries(r.claims)) {
        if (claim.hash !== undefined || stored(claim.upload)) continue;
        delete r.claims[name];
        changed = true;
      }
      if (!r.partial || r.partial.parts.length === 0 || stored(r.partial.upload)) continue;
      r.partial.parts = [];
      r.partial.tiled = false;
      changed = true;
    }
    return changed;
  }

  /** Whether a rendition's newest playlist hints `path` (an upload of it starting may complete a hint). */
  hints(path: string): boolean {
    return Object.entries(this.state.renditions).some(([playlist, r]) => r.trailer.some((line) => {
      const uri = hintUri(line);
      return uri !== undefined && resolveUri(playlist, uri) === path;
    }));
  }

  /** Forgets retired names older than `graceMs`. */
  expire(now: number, graceMs: number): boolean {
    let changed = false;
    for (const r of Object.values(this.state.renditions)) {
      const keep = r.retired.filter((x) => now - x.at < graceMs);
      if (keep.length !== r.retired.length) {
        r.retired = keep;
        changed = true;
      }
    }
    return changed;
  }

  published(path: string): string | undefined {
    return this.state.masters[path] ?? this.state.renditions[path]?.published;
  }

  isMaster(path: string): boolean {
    return path in this.state.masters;
  }

  targetDuration(path: string): number | undefined {
    return this.state.renditions[path]?.targetDuration;
  }

  renditionStats(): RenditionStats[] {
    return Object.entries(this.state.renditions)
      .filter(([, r]) => r.entries.length > 0)
      .map(([path, r]) => ({
        path, msn: r.lastMsn, disc: r.lastDisc, epoch: r.epoch, targetDuration: r.targetDuration, endList: r.endList,
        bandwidth: r.bandwidth, averageBandwidth: r.averageBandwidth, lowLatency: r.lowLatency === true,
      }));
  }

  /** Transcoder restarts seen (new epochs), and the published masters' paths: the stream's summary. */
  get restarts(): number {
    return this.state.restarts;
  }

  masterPaths(): string[] {
    return Object.keys(this.state.masters);
  }
}

/** State saved before names stopped carrying upload ids (`seg0.42.ts`): the ids come from the names it published. */
const UPLOAD_ID_IN_OLD_NAME = /\.(\d+)(?:\.[^./]+)?$/;

function upgradeRendition(path: string, r: RenditionState): void {
  const idIn = (name: string) => Number(UPLOAD_ID_IN_OLD_NAME.exec(name)?.[1] ?? -1);
  for (const e of r.entries) {
    e.upload ??= idIn(e.name);
    if (e.mapName !== undefined) e.mapUpload ??= idIn(e.mapName);
  }
  for (const x of r.retired) x.upload ??= idIn(x.name);
  r.claims ??= {};
  delete (r as { hints?: unknown }).hints;
  const first = r.entries[0];
  if (first !== undefined) r.root ??= rootOf(path, first.usn, first.hash, '');
}

function newRendition(epoch: number): RenditionState {
  return {
    epoch, entries: [], retired: [], history: [], lastLength: 0, lastUsn: -1, lastMsn: -1, lastDisc: 0, epochStart: true, epochMinUpload: 0,
    longestUpload: 0, targetDuration: 0, header: [], trailer: [], endList: false, claims: {},
  };
}

/** A published segment's identity: its upload, and for a byte range also where it starts. */
function segmentKey(upload: number, offset: number | undefined): string {
  return offset === undefined ? String(upload) : `${upload}@${offset}`;
}

/** Segments this rendition published and still remembers: its window and what left it recently. */
function publishedSegments(r: RenditionState): Set<string> {
  return new Set([...r.entries, ...r.retired].map((x) => segmentKey(x.upload, x.offset)));
}

function candidatesOf(path: string, pl: MediaPlaylist): Candidate[] {
  return pl.segments.map((seg, i) => {
    const map = seg.map !== undefined ? uriAttribute(seg.map) : undefined;
    return { seg, usn: pl.mediaSequence + i, source: resolveUri(path, seg.uri), ...(map ? { mapSource: resolveUri(path, map) } : {}) };
  });
}

/** The uploader's low-latency tags, replaced by the origin's own in a low-latency rendition. */
const UPLOADER_LL_TAGS = new Set(['EXT-X-PART', 'EXT-X-PART-INF', 'EXT-X-SERVER-CONTROL', 'EXT-X-PRELOAD-HINT', 'EXT-X-RENDITION-REPORT', 'EXT-X-SKIP', 'EXT-X-PREFETCH']);

function updatePartial(p: PartialSegment, cut: UploadParts | undefined): void {
  if (cut === undefined) return;
  p.parts = cut.parts.map((x) => ({ offset: x.offset, length: x.length, duration: x.seconds, independent: x.independent }));
  p.tiled = cut.tiled;
  if (cut.producerTimeMs !== undefined) p.producerTimeMs = cut.producerTimeMs;
}

/**
 * A segment's EXT-X-PROGRAM-DATE-TIME from its producer's wall clock, in place of the uploader's: ffmpeg's
 * dash muxer dates a run from its first packet's second, truncated, and counts on by durations, which runs
 * up to seconds off the capture clock (docs/low-latency.md, "PROGRAM-DATE-TIME").
 */
function withProgramDateTime(tags: readonly string[], ms: number): string[] {
  // To the microsecond first: an NTP fraction (1/2^32 s) of a whole millisecond is a hair below it.
  const line = `#EXT-X-PROGRAM-DATE-TIME:${new Date(Math.floor(Math.round(ms * 1000) / 1000)).toISOString()}`;
  const at = tags.findIndex((t) => tagName(t) === 'EXT-X-PROGRAM-DATE-TIME');
  return at >= 0 ? tags.map((t, i) => (i === at ? line : t)) : [line, ...tags];
}

/** The media playlists a master names (variants and EXT-X-MEDIA renditions), stream-relative. */
function renditionsOf(master: string, lines: readonly string[]): string[] {
  return lines.flatMap((line) => {
    if (!line.startsWith('#')) return [resolveUri(master, line)];
    const uri = tagName(line) === 'EXT-X-MEDIA' ? uriAttribute(line) : undefined;
    return uri !== undefined ? [resolveUri(master, uri)] : [];
  });
}

function hintUri(line: string): string | undefined {
  return HINT_TAGS.has(tagName(line)) ? uriReferences(line)[0]?.uri : undefined;
}

function isMapHint(line: string): boolean {
  return tagName(line) === 'EXT-X-PRELOAD-HINT' && attributesOf(line).get('TYPE') === 'MAP';
}

function attributesOf(line: string): Map<string, string> {
  return new Map(parseAttributeList(line.slice(line.indexOf(':') + 1)).map((a) => [a.name, a.value]));
}

/** Sets BANDWIDTH, and AVERAGE-BANDWIDTH (after BANDWIDTH when new) unless `average` is undefined. */
function withBandwidth(attrs: Attribute[], bandwidth: number, average: number | undefined): Attribute[] {
  return attrs.flatMap((a): Attribute[] => {
    if (a.name === 'AVERAGE-BANDWIDTH') return average === undefined ? [a] : [];
    if (a.name !== 'BANDWIDTH') return [a];
    const set = { name: 'BANDWIDTH', value: String(bandwidth), quoted: false };
    return average === undefined ? [set] : [set, { name: 'AVERAGE-BANDWIDTH', value: String(average), quoted: false }];
  });
}

/**
 * Measures the segment that was just pushed (RFC 8216 4.3.4.2): the peak segment bit rate is the highest
 * bit rate of any contiguous set of segments lasting 0.5 to 1.5 target durations, so every such set
 * ending with the new segment is weighed; the average is the window's. Only uploads are read, in upload
 * order, so two origins fed the same uploads measure the same.
 */
function measure(r: RenditionState): void {
  const low = 0.5 * r.targetDuration;
  const high = 1.5 * r.targetDuration;
  let bytes = 0;
  let seconds = 0;
  for (let i = r.entries.length - 1; i >= 0; i--) {
    const e = r.entries[i]!;
    if (e.bytes === undefined) break;
    bytes += e.bytes;
    seconds += e.duration;
    if (seconds > high) break;
    if (seconds >= low && seconds > 0) r.peakRate = Math.max(r.peakRate ?? 0, (bytes * 8) / seconds);
  }
  if (r.peakRate !== undefined && r.peakRate > (r.bandwidth ?? 0)) r.bandwidth = roundUpKbps(r.peakRate * BANDWIDTH_HEADROOM);
  let windowBytes = 0;
  let windowSeconds = 0;
  for (const e of r.entries) {
    if (e.bytes === undefined) continue;
    windowBytes += e.bytes;
    windowSeconds += e.duration;
  }
  if (windowSeconds === 0) return;
  const average = (windowBytes * 8) / windowSeconds;
  if (r.averageBandwidth === undefined || average > r.averageBandwidth || average * AVERAGE_FALL < r.averageBandwidth) {
    r.averageBandwidth = roundUpKbps(average * AVERAGE_HEADROOM);
  }
}
