// The serve phase of GET and HEAD under /hls/ (docs/origin.md, "Serving"): a published playlist, a
// published segment (immutable) or an uploaded name (mutable, perhaps still being written). A body of
// known size goes with its validators, and is answered 304, 416, 206 (one range, honouring If-Range) or
// 200, each with its length (HEAD too); a body still being written streams as it arrives.
import type { Context } from 'hono';
import { contentTypeFor, isPlaylistPath } from '../src/media-types.js';
import { evaluateRange, httpDate, notModified, type Validators } from '../src/http-range.js';
import { sendStream } from '../src/send-stream.js';
import { parseStreamPath } from '../src/stream-path.js';
import type { OriginMetrics } from './metrics.js';
import type { PublishedPlaylist } from './stream.js';
import type { StreamTable } from './stream-table.js';
import type { UploadVersion } from './upload-version.js';

/** Uploaded names (they change with the next upload) and 404s (the name may be uploaded any moment). */
const SHORT_LIVED = 'public, max-age=1';
/** Published names: a URI is never reused for other bytes. */
const IMMUTABLE = 'public, max-age=86400, immutable';

/** Bytes [start, end] of the body, answered with this status and these headers. */
type SendRange = (status: 200 | 206, headers: Record<string, string>, start: number, end: number) => Response;

export function deliveryHandler(streams: StreamTable, stats: OriginMetrics, masterMaxAge: number) {
  const notFound = (c: Context) => {
    stats.requests.inc({ result: 'not_found' });
    return c.text('not found\n', 404, { 'Cache-Control': SHORT_LIVED });
  };

  const whole = (c: Context, headers: Record<string, string>, validators: Validators, size: number, result: 'playlist' | 'file', send: SendRange) => {
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
  };

  const playlist = (c: Context, path: string, published: PublishedPlaylist) => {
    const maxAge = published.master ? masterMaxAge : Math.max(1, Math.round((published.targetDuration ?? 2) / 2));
    const headers: Record<string, string> = {
      'Content-Type': contentTypeFor(path),
      'Cache-Control': `public, max-age=${maxAge}`,
      'Accept-Ranges': 'bytes',
      ETag: published.etag,
      'Last-Modified': httpDate(published.at),
    };
    return whole(c, headers, { etag: published.etag, lastModified: published.at }, published.bytes.length, 'playlist',
      (status, h, start, end) => c.body(published.bytes.subarray(start, end + 1), status, h));
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
    return whole(c, headers, { etag, lastModified: version.completedAt }, version.size, 'file',
      (status, h, start, end) => sendStream(c, status, h, version.stream(start, end)));
  };

  return function deliver(c: Context): Response {
    const parsed = parseStreamPath(new URL(c.req.url).pathname);
    if (!parsed.ok) {
      stats.requests.inc({ result: 'bad_request' });
      return c.text(`bad stream path: ${parsed.reason}\n`, 400);
    }
    const { stream: name, path } = parsed.value;
    const stream = streams.get(name);
    if (!stream) return notFound(c);
    if (isPlaylistPath(path)) {
      const published = stream.playlist(path);
      return published ? playlist(c, path, published) : notFound(c);
    }
    const found = stream.file(path);
    return found ? file(c, path, found.blob, found.immutable) : notFound(c);
  };
}
