// The serve phase of recordings (docs/relive.md): DVR and relive playlists (and their masters), time-shift
// clips of them (`?start=&end=`), and recorded segments. A rendition playlist is written as it is read from
// the index (no Content-Length: a playlist of many hours is never held whole); its ETag names the
// selection, so a revalidation costs no index read beyond the search.
import type { Context } from 'hono';
import { contentTypeFor } from '../src/media-types.js';
import { notModified } from '../src/http-range.js';
import { sendStream } from '../src/send-stream.js';
import { answerWhole, IMMUTABLE, NOT_STORED, SHORT_LIVED, type RecordingHandler } from './delivery.js';
import type { OriginMetrics } from './metrics.js';
import type { Recorder, StreamRecording } from './recording.js';
import { parseRecordingPath, recordedExtension, recordedSegmentUri, type RecordingTarget } from '../src/recording-paths.js';
import { mediaPlaylist, outside, parseClip, recordingMaster, select, type RecordingView } from './recording-playlist.js';

/**
 * An ended stream's relive (and DVR) playlists no longer change, unless the stream starts again: cached
 * for an hour, so an edge takes the crowd that comes after a talk, and a restarted stream's relive turns
 * into its growing EVENT playlist within that hour at the latest (docs/relive.md, "Relive").
 */
const ENDED_MAX_AGE = 3600;
/** A clip names a stretch of the past: its playlist changes only if retention removes it. */
const CLIP_MAX_AGE = 86_400;

export function recordingHandler(recorder: Recorder, stats: OriginMetrics, dvrWindowMs: number, masterMaxAge: number): RecordingHandler {
  const notFound = (c: Context) => {
    stats.requests.inc({ result: 'not_found' });
    return c.text('not found\n', 404, { 'Cache-Control': SHORT_LIVED });
  };
  const badRequest = (c: Context, why: string) => {
    stats.requests.inc({ result: 'bad_request' });
    return c.text(`${why}\n`, 400, { 'Cache-Control': NOT_STORED });
  };

  const segment = async (c: Context, recording: StreamRecording, target: Extract<RecordingTarget, { kind: 'segment' }>, path: string) => {
    const index = recording.indexes.get(target.rid);
    if (target.id !== recording.id || index === undefined) return notFound(c);
    const seg = await index.bySeq(target.seq);
    const size = target.init ? (seg?.init === target.seq ? seg.isize : undefined) : seg?.size;
    const ext = target.init ? recordedExtension(seg?.map ?? '') : seg?.ext;
    if (seg === undefined || size === undefined || ext !== target.ext) return notFound(c);
    const key = target.init ? index.initKey(target.seq) : index.segmentKey(target.seq);
    const headers = { 'Content-Type': contentTypeFor(path), 'Cache-Control': IMMUTABLE, 'Accept-Ranges': 'bytes', ETag: `"${recording.id}-${target.rid}-${path.slice(path.lastIndexOf('/') + 1)}"` };
    return answerWhole(c, stats, headers, { etag: headers.ETag }, size, 'file',
      (status, h, start, end) => sendStream(c, status, h, index.storage.read(key, start, end)));
  };

  const rendition = async (c: Context, recording: StreamRecording, rid: number, view: RecordingView) => {
    const index = recording.indexes.get(rid);
    if (index === undefined) return notFound(c);
    const ended = recording.ended !== undefined;
    const selected = await select(index, view, ended);
    if (selected === undefined) return notFound(c);
    if (!selected.ok) return badRequest(c, selected.reason);
    const sel = selected.value;
    const maxAge = view.kind === 'clip' ? CLIP_MAX_AGE : ended ? ENDED_MAX_AGE : Math.max(1, Math.round(index.targetDuration() / 2));
    const headers = { 'Content-Type': contentTypeFor('x.m3u8'), 'Cache-Control': `public, max-age=${maxAge}`, ETag: `"${recording.id}:${sel.tag}"` };
    if (notModified(c.req.raw.headers, { etag: headers.ETag })) {
      stats.requests.inc({ result: 'not_modified' });
      return c.body(null, 304, headers);
    }
    const pieces = mediaPlaylist(index, sel, (seg, init) => init
      ? recordedSegmentUri(recording.id, rid, seg.init!, recordedExtension(seg.map!), true)
      : recordedSegmentUri(recording.id, rid, seg.seq, seg.ext, false));
    // The first piece before the headers: a recording that cannot be read is a 503, not a cut 200.
    let first: IteratorResult<string>;
    try {
      first = await pieces.next();
    } catch {
      stats.requests.inc({ result: 'unavailable' });
      return c.text('recording unavailable\n', 503, { 'Cache-Control': NOT_STORED, 'Retry-After': '1' });
    }
    stats.requests.inc({ result: 'playlist' });
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        if (first.done !== true) controller.enqueue(encoder.encode(first.value));
      },
      async pull(controller) {
        const next = await pieces.next();
        if (next.done === true) controller.close();
        else controller.enqueue(encoder.encode(next.value));
      },
      async cancel() {
        await pieces.return(undefined);
      },
    });
    return sendStream(c, 200, headers, body);
  };

  const master = async (c: Context, recording: StreamRecording, target: Extract<RecordingTarget, { kind: 'master' }>, query: string, clip: { start: number; end: number } | undefined) => {
    const published = recording.masters[target.master];
    const text = published !== undefined ? recordingMaster(published, target.master, recording.renditions, query) : undefined;
    if (text === undefined) return notFound(c);
    if (clip !== undefined) {
      const span = await recording.span();
      const bad = span === undefined ? 'nothing recorded yet' : outside(clip, span);
      if (bad !== undefined) return badRequest(c, bad);
    }
    stats.requests.inc({ result: 'playlist' });
    const maxAge = clip !== undefined ? CLIP_MAX_AGE : recording.ended !== undefined ? ENDED_MAX_AGE : masterMaxAge;
    return c.body(text, 200, { 'Content-Type': contentTypeFor(target.master), 'Cache-Control': `public, max-age=${maxAge}` });
  };

  return async (c, stream, path, params) => {
    const recording = recorder.get(stream);
    const target = parseRecordingPath(path);
    if (recording === undefined || target === undefined) return notFound(c);
    if (target.kind === 'segment') return segment(c, recording, target, path);
    const clip = parseClip(params);
    if (!clip.ok) return badRequest(c, clip.reason);
    if (target.kind === 'master') {
      const query = clip.value !== undefined ? `start=${encodeURIComponent(params.get('start')!)}&end=${encodeURIComponent(params.get('end')!)}` : '';
      return master(c, recording, target, query, clip.value);
    }
    const view: RecordingView = clip.value !== undefined ? { kind: 'clip', ...clip.value }
      : target.view === 'relive' ? { kind: 'relive' } : { kind: 'window', windowMs: dvrWindowMs };
    return rendition(c, recording, target.rid, view);
  };
}
