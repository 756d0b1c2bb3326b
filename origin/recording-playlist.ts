// The playlists made from a recording (docs/relive.md): which segments a view selects (a DVR window, the
// whole event, a time-shift clip), the media playlist of that selection written a chunk of the index at
// a time (a playlist of many hours is never held whole), and the master that names them.
import { parsePlaylist, tagName, mapUriAttribute, uriAttribute } from '../src/playlist.js';
import type { Checked } from '../src/stream-path.js';
import { resolveUri } from './publisher.js';
import type { RecordedSegment, RecordingIndex } from './recording-index.js';
import { endOf } from './recording.js';

export type RecordingView =
  /** The last `windowMs` of the recording (a live DVR playlist); 0: all of it (EXT-X-PLAYLIST-TYPE:EVENT). */
  | { kind: 'window'; windowMs: number }
  /** All of it: VOD once the stream ended, EVENT while it is live. */
  | { kind: 'relive' }
  /** From the segment that contains `start` to the one that contains `end` (ms), as VOD. */
  | { kind: 'clip'; start: number; end: number };

export interface Selection {
  /** Positions of the first and last segment. */
  from: number;
  to: number;
  type?: 'EVENT' | 'VOD';
  endList: boolean;
  /** Names this selection's text (an ETag): the same selection of the same index is the same bytes. */
  tag: string;
}

/** What a view of one rendition selects; why not, for a clip the recording cannot give. */
export async function select(index: RecordingIndex, view: RecordingView, ended: boolean): Promise<Checked<Selection> | undefined> {
  const first = await index.oldest();
  const last = index.last;
  if (first === undefined || last === undefined) return undefined;
  const tag = (from: number, to: number, kind: string) => `${index.prefix}:${from}-${to}:${kind}`;
  if (view.kind === 'clip') {
    const bad = outside(view, { from: first.pdt, to: endOf(last) });
    if (bad) return { ok: false, reason: bad };
    const containing = await index.lastStartingBefore(view.start, false);
    // A start in a hole of the recording (between two runs) begins with the segment after the hole.
    const from = containing !== undefined && endOf(containing) > view.start ? containing.pos : (containing?.pos ?? first.pos - 1) + 1;
    const to = (await index.lastStartingBefore(view.end, true))!.pos;
    if (to < from) return { ok: false, reason: 'no recorded segment between start and end' };
    return { ok: true, value: { from, to, type: 'VOD', endList: true, tag: tag(from, to, 'clip') } };
  }
  // Up to the last segment now, whatever is recorded while the playlist is being written: its ETag names it.
  const to = last.pos;
  const endList = ended;
  if (view.kind === 'relive') {
    return { ok: true, value: { from: first.pos, to, type: ended ? 'VOD' : 'EVENT', endList, tag: tag(first.pos, to, ended ? 'vod' : 'event') } };
  }
  if (view.windowMs === 0) {
    return { ok: true, value: { from: first.pos, to, type: 'EVENT', endList, tag: tag(first.pos, to, `event${ended ? '-end' : ''}`) } };
  }
  // The window: every segment that ends within its length of the recording's end.
  const start = await index.lastStartingBefore(endOf(last) - view.windowMs, false);
  const from = start === undefined ? first.pos : endOf(start) > endOf(last) - view.windowMs ? start.pos : start.pos + 1;
  return { ok: true, value: { from: Math.min(from, to), to, endList, tag: tag(from, to, `window${ended ? '-end' : ''}`) } };
}

/** Why a clip does not fit a recording spanning [from, to) (ms), or undefined when it does. */
export function outside(clip: { start: number; end: number }, span: { from: number; to: number }): string | undefined {
  const iso = (t: number) => new Date(t).toISOString();
  if (clip.end <= clip.start) return 'end must be after start';
  if (clip.start < span.from || clip.start >= span.to) return `start ${iso(clip.start)} is outside the recording (${iso(span.from)} to ${iso(span.to)})`;
  if (clip.end > span.to) return `end ${iso(clip.end)} is after the end of the recording (${iso(span.to)})`;
  return undefined;
}

/**
 * The media playlist of a selection, in pieces of text (one per index chunk). `uri` names a segment's
 * object, or with `init` the object of the init section in force for it.
 */
export async function* mediaPlaylist(index: RecordingIndex, sel: Selection, uri: (seg: RecordedSegment, init: boolean) => string): AsyncGenerator<string> {
  let previous: RecordedSegment | undefined;
  for await (const chunk of index.walk(sel.from, sel.to)) {
    const lines: string[] = [];
    if (previous === undefined) {
      const first = chunk[0]!;
      lines.push('#EXTM3U', `#EXT-X-VERSION:${first.init !== undefined ? 6 : 3}`, `#EXT-X-TARGETDURATION:${index.targetDuration()}`,
        `#EXT-X-MEDIA-SEQUENCE:${first.pos}`, `#EXT-X-DISCONTINUITY-SEQUENCE:${first.dseq - (first.disc ? 1 : 0)}`,
        ...(sel.type !== undefined ? [`#EXT-X-PLAYLIST-TYPE:${sel.type}`] : []));
    }
    for (const seg of chunk) {
      if (previous !== undefined && seg.disc) lines.push('#EXT-X-DISCONTINUITY');
      if (seg.init !== undefined && (previous === undefined || previous.init !== seg.init)) lines.push(`#EXT-X-MAP:URI="${uri(seg, true)}"`);
      lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(seg.pdt).toISOString()}`, `#EXTINF:${seg.dur},`, uri(seg, false));
      previous = seg;
    }
    yield `${lines.join('\n')}\n`;
  }
  if (previous === undefined) throw new Error('the selection is no longer recorded');
  if (sel.endList) yield '#EXT-X-ENDLIST\n';
}

/**
 * A published master rewritten for a recording: at `<prefix>/<master path>`, naming each recorded
 * rendition's playlist `<prefix>/<number>.m3u8` (with `query`, so a clip's master names the clip of each
 * rendition); what is not recorded is left out.
 */
export function recordingMaster(text: string, masterPath: string, renditions: Readonly<Record<string, number>>, query: string): string | undefined {
  const pl = parsePlaylist(text);
  if (pl.type !== 'master') return undefined;
  const up = '../'.repeat(masterPath.split('/').length - 1);
  const mapped = (uri: string) => {
    const rid = renditions[resolveUri(masterPath, uri)];
    return rid === undefined ? undefined : `${up}${rid}.m3u8${query === '' ? '' : `?${query}`}`;
  };
  const lines: string[] = [];
  for (const line of pl.lines) {
    if (!line.startsWith('#')) {
      const uri = mapped(line);
      // A variant whose rendition is not recorded goes with its EXT-X-STREAM-INF.
      if (uri === undefined) lines.pop();
      else lines.push(uri);
      continue;
    }
    const uri = uriAttribute(line);
    if (uri === undefined || tagName(line) === 'EXT-X-SESSION-KEY' || tagName(line) === 'EXT-X-SESSION-DATA') {
      lines.push(line);
      continue;
    }
    const to = mapped(uri);
    if (to !== undefined) lines.push(mapUriAttribute(line, () => to));
  }
  return ['#EXTM3U', ...lines].join('\n') + '\n';
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/;

/**
 * A time-shift bound: an ISO 8601 date-time with its offset, or seconds since the epoch (PDT). Ms, or
 * undefined. An offset's `+` sent unescaped arrives as a space (form encoding): it is read as the `+`.
 */
export function parseClipTime(text: string): number | undefined {
  if (/^\d{1,12}(?:\.\d{1,6})?$/.test(text)) return Math.round(Number(text) * 1000);
  const iso = text.replace(/ (\d{2}:?\d{2})$/, '+$1');
  if (!ISO_8601.test(iso)) return undefined;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : undefined;
}

/** `start` and `end` of a request (both or neither), in ms. */
export function parseClip(params: URLSearchParams): Checked<{ start: number; end: number } | undefined> {
  const start = params.get('start');
  const end = params.get('end');
  if (start === null && end === null) return { ok: true, value: undefined };
  if (start === null || end === null) return { ok: false, reason: 'a clip needs both start and end' };
  const s = parseClipTime(start);
  if (s === undefined) return { ok: false, reason: `start: not an ISO 8601 date-time with offset nor seconds since the epoch: '${start}'` };
  const e = parseClipTime(end);
  if (e === undefined) return { ok: false, reason: `end: not an ISO 8601 date-time with offset nor seconds since the epoch: '${end}'` };
  if (e <= s) return { ok: false, reason: 'end must be after start' };
  return { ok: true, value: { start: s, end: e } };
}
