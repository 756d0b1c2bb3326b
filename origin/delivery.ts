// The serve phase of GET and HEAD under /hls/ (docs/origin.md, "Serving"): a published playlist, a
// published segment or part (immutable) or an uploaded name (mutable, perhaps still being written). A body
// of known size goes with its validators, and is answered 304, 416, 206 (one range, honouring If-Range) or
// 200, each with its length (HEAD too); a body still being written streams as it arrives.
//
// Low-latency playlists take the delivery directives (docs/origin.md, "Low-latency HLS"): a blocking
// reload is held in the waiting room until the playlist satisfies it, a delta update skips old segments.
// A hinted part is held until it is complete, then sent whole (the draft, 6.2.6: no byte of a part before
// all of it can go at the full speed of the link); if its segment ends first, 404; if its upload fails
// or stalls, the connection is cut.
import type { ServerResponse } from 'node:http';
import type { Context } from 'hono';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { contentTypeFor, isPlaylistPath } from '../src/media-types.js';
import { evaluateRange, httpDate, notModified, type Validators } from '../src/http-range.js';
import { sendStream } from '../src/send-stream.js';
import { isRecordingPath } from '../src/recording-paths.js';
import { cutResponse } from '../src/tls.js';
import { parseStreamPath } from '../src/stream-path.js';
import { CAN_SKIP_TARGETS, deltaUpdate } from './ll-playlist.js';
import type { OriginMetrics } from './metrics.js';
import { parseDirectives, satisfies, tooFarAhead, type Directives } from './reload-directives.js';
import { etagOf, type PartLookup, type PublishedPlaylist } from './stream.js';
import type { StreamTable } from './stream-table.js';
import type { UploadVersion } from './upload-version.js';
import type { WaitingRoom } from './waiting-room.js';

/** Uploaded names (they change with the next upload) and 404s (the name may be uploaded any moment). */
export const SHORT_LIVED = 'public, max-age=1';
/** Published names: a URI is never reused for other bytes. */
export const IMMUTABLE = 'public, max-age=86400, immutable';
/** Refusals a cache must not keep: the same request may be answerable a moment later. */
export const NOT_STORED = 'no-store';
/**
 * A blocking reload's answer, in part targets: its URL names a playlist version that satisfies it, so a
 * cache may answer the same URL with it for a while (Apple's LL-HLS guidance: cache blocking responses,
 * key on the directives); short, since it grows older than the live edge with every part.
 */
const BLOCKING_MAX_AGE_PARTS = 6;
/** A blocking reload is answered 503 after this many target durations (draft 6.2.5.2); a hinted part is cut. */
const BLOCKING_TARGETS = 3;

/** Bytes [start, end] of the body, answered with this status and these headers. */
export type SendRange = (status: 200 | 206, headers: Record<string, string>, start: number, end: number) => Response;

/**
 * A body of known size with its validators: 304, 416, 206 (one range, honouring If-Range) or 200, each
 * with its length, counted by result.
 */
export function answerWhole(c: Context, stats: OriginMetrics, headers: Record<string, string>, validators: Validators, size: number, result: 'playlist' | 'file', send: SendRange): Response {
  const requestHeaders = c.req.raw.headers;
  if (notModified(requestHeaders, validators)) {
    stats.requests.inc({ result: 'not_modified' });
    return c.body(null, 304, headers);
  }
  const range = evaluateRange(requestHeaders, size, validators);
  if (range.type === 'unsatisfiable') {
    stats.requests.inc({ result: 'range_unsatisfiable' });
    return c.body(null, 416, { ...headers, 'Content-Range': `bytes */${size}` });
  }
  if (range.type === 'partial') {
    stats.requests.inc({ result: 'partial' });
    return send(206, { ...headers, 'Content-Range': `bytes ${range.start}-${range.end}/${size}`, 'Content-Length': String(range.end - range.start + 1) },
      range.start, range.end);
  }
  stats.requests.inc({ result });
  return send(200, { ...headers, 'Content-Length': String(size) }, 0, size - 1);
}

/** What answers the paths of recordings (origin/recording-delivery.ts); without --record they are not found. */
export type RecordingHandler = (c: Context, stream: string, path: string, params: URLSearchParams) => Response | Promise<Response>;

export function deliveryHandler(streams: StreamTable, stats: OriginMetrics, masterMaxAge: number, room: WaitingRoom, recordings?: RecordingHandler) {
  const notFound = (c: Context) => {
    stats.requests.inc({ result: 'not_found' });
    return c.text('not found\n', 404, { 'Cache-Control': SHORT_LIVED });
  };

  const refuse = (c: Context, status: 400 | 503, result: 'bad_request' | 'blocking_full' | 'blocking_timeout', why: string) => {
    stats.requests.inc({ result });
    return c.text(`${why}\n`, status, { 'Cache-Control': NOT_STORED, ...(status === 503 ? { 'Retry-After': '1' } : {}) });
  };

  const playlist = (c: Context, path: string, published: PublishedPlaylist, variant: { delta?: boolean; blocking?: boolean } = {}) => {
    const ll = published.lowLatency;
    const maxAge = published.master ? masterMaxAge
      : variant.blocking && ll ? Math.max(1, Math.ceil((BLOCKING_MAX_AGE_PARTS * ll.partTargetMs) / 1000))
      : Math.max(1, Math.round((published.targetDuration ?? 2) / 2));
    const body = variant.delta && ll ? (published.delta ??= deltaOf(published.text, ll.targetDuration)) : published;
    const headers: Record<string, string> = {
      'Content-Type': contentTypeFor(path),
      'Cache-Control': `public, max-age=${maxAge}`,
      'Accept-Ranges': 'bytes',
      ETag: body.etag,
      'Last-Modified': httpDate(published.at),
    };
    return answerWhole(c, stats, headers, { etag: body.etag, lastModified: published.at }, body.bytes.length, 'playlist',
      (status, h, start, end) => c.body(body.bytes.subarray(start, end + 1), status, h));
  };

  /**
   * A low-latency playlist with delivery directives. They are ignored once it has EXT-X-ENDLIST (draft
   * 6.2.5.1, 6.2.5.2); a blocking reload waits for the version that satisfies it, which is then answered.
   */
  const lowLatencyPlaylist = async (c: Context, stream: string, path: string, published: PublishedPlaylist, directives: Directives): Promise<Response> => {
    const at = published.lowLatency!;
    const { msn, part, skip } = directives;
    if (at.endList) return playlist(c, path, published);
    if (msn === undefined) return playlist(c, path, published, { delta: skip });
    const want = { msn, ...(part !== undefined ? { part } : {}) };
    const far = tooFarAhead(at, want);
    if (far !== undefined) return refuse(c, 400, 'bad_request', far);
    const current = () => streams.get(stream)?.playlist(path);
    const ready = () => {
      const now = current()?.lowLatency;
      return now === undefined || now.endList || satisfies(now, want);
    };
    const waiting = room.wait(stream, path, ready, BLOCKING_TARGETS * at.targetDuration * 1000, c.req.raw.signal);
    if (waiting === undefined) return refuse(c, 503, 'blocking_full', 'too many blocked playlist requests');
    const now = (await waiting) ? current() : undefined;
    if (now === undefined) return refuse(c, 503, 'blocking_timeout', `_HLS_msn=${msn}${part !== undefined ? ` _HLS_part=${part}` : ''} not available after ${BLOCKING_TARGETS} target durations`);
    return playlist(c, path, now, { delta: skip, blocking: true });
  };

  /** A published part (whole, immutable), or a hinted one: held until it exists, then sent whole; cut if it never will. */
  const part = async (c: Context, stream: string, path: string, found: PartLookup): Promise<Response> => {
    const headers: Record<string, string> = { 'Content-Type': contentTypeFor(path), 'Cache-Control': IMMUTABLE, 'Accept-Ranges': 'bytes' };
    if (found.state === 'published') {
      return answerWhole(c, stats, headers, {}, found.length, 'file', (status, h, start, end) => sendStream(c, status, h, found.read(start, end)));
    }
    const { parts, index, targetDuration } = found;
    // A HEAD says the hinted part is there to be requested; its length is not known yet.
    if (c.req.method === 'HEAD') return c.body(null, 200, { ...headers, 'Cache-Control': NOT_STORED });
    const waiting = room.wait(stream, `upload:${parts.upload.id}`, () => parts.settled(index) !== undefined, BLOCKING_TARGETS * targetDuration * 1000, c.req.raw.signal);
    if (waiting === undefined) return refuse(c, 503, 'blocking_full', 'too many held part requests');
    await waiting;
    const got = streams.get(stream)?.part(path);
    if (got?.state === 'published') return part(c, stream, path, got);
    // The segment ended before this part began: the hint was a guess (draft 6.2.6: "Not Found"). Its upload
    // failed, or stalled past the wait: cut.
    return parts.upload.state === 'complete' ? notFound(c) : cut(c);
  };

  /** Ends a request without an answer: the socket is destroyed, an HTTP/2 stream reset (in-process requests get a body that errors). */
  const cut = (c: Context): Response => {
    stats.requests.inc({ result: 'cut' });
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    if (!outgoing) return new Response(new ReadableStream({ start: (controller) => controller.error(new Error('part never completed')) }));
    cutResponse(outgoing);
    return RESPONSE_ALREADY_SENT;
  };

  const file = (c: Context, path: string, version: UploadVersion, immutable: boolean) => {
    const headers: Record<string, string> = {
      'Content-Type': contentTypeFor(path),
      'Cache-Control': immutable ? IMMUTABLE : SHORT_LIVED,
      'Accept-Ranges': 'bytes',
    };
    if (version.state !== 'complete') {
      // Read-while-write: no length yet, so chunked; an aborted upload errors the stream and the client sees a cut body.
      stats.requests.inc({ result: 'streaming' });
      return sendStream(c, 200, headers, version.stream());
    }
    const etag = `"${version.hash.slice(0, 20)}"`;
    headers.ETag = etag;
    headers['Last-Modified'] = httpDate(version.completedAt);
    return answerWhole(c, stats, headers, { etag, lastModified: version.completedAt }, version.size, 'file',
      (status, h, start, end) => sendStream(c, status, h, version.stream(start, end)));
  };

  return function deliver(c: Context): Response | Promise<Response> {
    const url = new URL(c.req.url);
    const parsed = parseStreamPath(url.pathname);
    if (!parsed.ok) {
      stats.requests.inc({ result: 'bad_request' });
      return c.text(`bad stream path: ${parsed.reason}\n`, 400);
    }
    const { stream: name, path } = parsed.value;
    if (isRecordingPath(path)) return recordings ? recordings(c, name, path, url.searchParams) : notFound(c);
    const stream = streams.get(name);
    if (!stream) return notFound(c);
    if (isPlaylistPath(path)) {
      const published = stream.playlist(path);
      if (!published) return notFound(c);
      // A playlist that is not low-latency ignores delivery directives, as it always did.
      if (published.lowLatency === undefined) return playlist(c, path, published);
      const directives = parseDirectives(url.searchParams);
      if (!directives.ok) return refuse(c, 400, 'bad_request', directives.reason);
      return lowLatencyPlaylist(c, name, path, published, directives.value);
    }
    const found = stream.file(path);
    if (found?.immutable) return file(c, path, found.blob, true);
    const lookup = stream.part(path);
    if (lookup !== undefined) return part(c, name, path, lookup);
    return found ? file(c, path, found.blob, false) : notFound(c);
  };
}

/** A low-latency playlist's delta update (made once per published version). */
function deltaOf(text: string, targetDuration: number): { text: string; bytes: Uint8Array<ArrayBuffer>; etag: string } {
  const delta = deltaUpdate(text, CAN_SKIP_TARGETS * targetDuration);
  return { text: delta, bytes: new TextEncoder().encode(delta), etag: etagOf(delta) };
}
