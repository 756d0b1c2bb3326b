// Where an origin with --record serves recordings (docs/contract.md, "Recordings"): three reserved first
// path segments of a stream, which uploads may not use, so no uploaded name ever means a recording's object
// or the reverse. The edge reads it too: a recording playlist's clip parameters are part of its cache key.
//   _dvr/<n>.m3u8, _dvr/<master path>        the DVR playlist of rendition n, a master naming them
//   _relive/<n>.m3u8, _relive/<master path>  the whole recording (relive)
//   _rec/<id>/<n>/<seq>.<ext>                 a recorded segment; <seq>.init.<ext> an init section
// Rendition playlists are named by number, so a master named `<digits>.m3u8` has no recording master.

import { parseStreamPath } from './stream-path.js';

export const RECORDING_DIRS = ['_dvr', '_relive', '_rec'] as const;
/** The query parameters of a time-shift clip of a recording playlist. */
export const CLIP_PARAMS: readonly string[] = ['start', 'end'];

export function isRecordingPath(path: string): boolean {
  return (RECORDING_DIRS as readonly string[]).includes(path.slice(0, path.indexOf('/')));
}

export type RecordingTarget =
  | { kind: 'rendition'; view: 'dvr' | 'relive'; rid: number }
  | { kind: 'master'; view: 'dvr' | 'relive'; master: string }
  | { kind: 'segment'; id: string; rid: number; seq: number; init: boolean; ext: string };

const RENDITION = /^(0|[1-9]\d{0,5})\.m3u8$/;
const SEGMENT = /^_rec\/([a-z0-9]{1,16})\/(0|[1-9]\d{0,5})\/(0|[1-9]\d{0,14})(\.init)?\.([A-Za-z0-9]{1,8})$/;

/** What a stream-relative path under a reserved directory names, or undefined for nothing. */
export function parseRecordingPath(path: string): RecordingTarget | undefined {
  const segment = SEGMENT.exec(path);
  if (segment) return { kind: 'segment', id: segment[1]!, rid: Number(segment[2]), seq: Number(segment[3]), init: segment[4] !== undefined, ext: segment[5]! };
  const slash = path.indexOf('/');
  const dir = path.slice(0, slash);
  if (dir !== '_dvr' && dir !== '_relive') return undefined;
  const view = dir === '_dvr' ? 'dvr' : 'relive';
  const rest = path.slice(slash + 1);
  const rendition = RENDITION.exec(rest);
  if (rendition) return { kind: 'rendition', view, rid: Number(rendition[1]) };
  return rest.endsWith('.m3u8') ? { kind: 'master', view, master: rest } : undefined;
}

/** The extension a recorded object's URIs carry (its content type): its live name's, if it is a plain one. */
export function recordedExtension(name: string): string {
  return /\.([A-Za-z0-9]{1,8})$/.exec(name)?.[1] ?? 'bin';
}

/** A recorded segment's (or its init section's) URI, relative to a rendition playlist of the recording. */
export function recordedSegmentUri(id: string, rid: number, seq: number, ext: string, init: boolean): string {
  return `../_rec/${id}/${rid}/${seq}${init ? '.init' : ''}.${ext}`;
}

/** Whether a request path (`/hls/<stream>/...`) names a recording playlist, which clip parameters select from. */
export function isRecordingPlaylistUrl(pathname: string): boolean {
  const parsed = parseStreamPath(pathname);
  return parsed.ok && (parsed.value.path.startsWith('_dvr/') || parsed.value.path.startsWith('_relive/'));
}
