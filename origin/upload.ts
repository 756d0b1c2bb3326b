// The upload phases of PUT, POST and DELETE under /hls/: target -> authorize -> size limit -> body ->
// apply (a playlist is rewritten and published; any other file becomes a new upload version of its path)
// -> answer. Every refusal is an OriginError, answered by `reject`: status from its reason, one log line,
// counted by reason. Anything else thrown is a bug, answered 500 by the app (docs/origin.md, "Bad input").
import { createHash } from 'node:crypto';
import type { Context } from 'hono';
import { FEED_HEADER, FEED_ID } from '../src/feed.js';
import type { Logger } from '../src/log.js';
import { isPlaylistPath } from '../src/media-types.js';
import { decodePlaylist } from '../src/playlist.js';
import { readUploadBody } from '../src/upload-body.js';
import { parseStreamPath, type StreamPath } from '../src/stream-path.js';
import type { UploadAuthorizer } from './auth.js';
import type { OriginConfig } from './config.js';
import { isRecordingPath } from '../src/recording-paths.js';
import { asOriginError, OriginError } from './errors.js';
import { uploadKind, type OriginMetrics } from './metrics.js';
import type { StreamTable } from './stream-table.js';

export type UploadLimits = Pick<OriginConfig, 'maxPlaylistBytes' | 'maxFileBytes' | 'uploadIdleTimeoutMs'>;

export function uploadHandlers(limits: UploadLimits, streams: StreamTable, authorize: UploadAuthorizer, stats: OriginMetrics, log: Logger) {
  const reject = (c: Context, err: OriginError, fields: Record<string, unknown> = {}) => {
    const { reason, status } = err;
    stats.rejected.inc({ reason });
    (status >= 500 ? log.error : log.warn)('upload_rejected', { reason, status, path: new URL(c.req.url).pathname, msg: err.message, ...fields });
    const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
    if (status === 401) headers['WWW-Authenticate'] = 'Bearer realm="cascade", Basic realm="cascade"';
    // The client may still be sending a body we will not read.
    if (status === 408 || status === 413) headers.Connection = 'close';
    return c.text(`${err.message}\n`, status, headers);
  };

  /** The request's stream and path, then `phases` on them; a refusal on the way is answered by `reject`. */
  const refusing = async (c: Context, phases: (target: StreamPath) => Promise<Response>): Promise<Response> => {
    const parsed = parseStreamPath(new URL(c.req.url).pathname);
    if (!parsed.ok) return reject(c, new OriginError('bad_path', `bad stream path: ${parsed.reason}`));
    if (isRecordingPath(parsed.value.path)) return reject(c, new OriginError('reserved_path', `'${parsed.value.path.split('/')[0]}/' is where recordings are served`));
    try {
      return await phases(parsed.value);
    } catch (err) {
      const refused = asOriginError(err);
      if (refused instanceof OriginError) return reject(c, refused, { stream: parsed.value.stream });
      throw err;
    }
  };

  const uploadPlaylist = async (c: Context, name: string, path: string): Promise<void> => {
    const feed = c.req.header(FEED_HEADER) ?? '';
    if (feed !== '' && !FEED_ID.test(feed)) throw new OriginError('bad_feed', `${FEED_HEADER} must match ${FEED_ID.source}`);
    const chunks: Buffer[] = [];
    await readUploadBody(c.req.raw.body, limits.maxPlaylistBytes, limits.uploadIdleTimeoutMs, (chunk) => chunks.push(chunk));
    const text = decodePlaylist(Buffer.concat(chunks));
    const { outcome } = streams.open(name).applyPlaylist(path, text, feed);
    stats.uploads.inc({ stream: name, kind: 'playlist' });
    stats.uploadBytes.inc({ stream: name, kind: 'playlist' }, Buffer.byteLength(text));
    if (outcome === 'restart') {
      stats.restarts.inc({ stream: name });
      log.info('restart_detected', { stream: name, path });
    }
  };

  const uploadFile = async (c: Context, name: string, path: string, declared: string | undefined): Promise<void> => {
    const stream = streams.open(name);
    const version = stream.beginUpload(path);
    const hash = createHash('sha256');
    try {
      const size = await readUploadBody(c.req.raw.body, limits.maxFileBytes, limits.uploadIdleTimeoutMs, (chunk) => {
        hash.update(chunk);
        version.append(chunk);
      });
      if (declared !== undefined && size !== Number(declared)) {
        throw new OriginError('length_mismatch', `body of ${size} bytes, Content-Length ${declared}`);
      }
    } catch (err) {
      stream.abortUpload(version);
      throw err;
    }
    if (!await stream.finishUpload(version, hash.digest('hex'))) {
      // Answered as a success: by start order it came first and was then replaced by the newer upload.
      stats.superseded.inc();
      log.info('upload_superseded', { stream: name, path, id: version.id });
      return;
    }
    const kind = uploadKind(path);
    stats.uploads.inc({ stream: name, kind });
    stats.uploadBytes.inc({ stream: name, kind }, version.size);
    log.debug('upload', { stream: name, path, id: version.id, bytes: version.size });
  };

  return {
    /** PUT or POST: 204 for a playlist, 201 for any other file. */
    upload: (c: Context) => refusing(c, async ({ stream, path }) => {
      await authorize(c, stream, path);
      const playlist = isPlaylistPath(path);
      const limit = playlist ? limits.maxPlaylistBytes : limits.maxFileBytes;
      const declared = c.req.header('content-length');
      if (declared !== undefined && Number(declared) > limit) throw new OriginError('too_large', `upload larger than ${limit} bytes`);
      if (playlist) {
        await uploadPlaylist(c, stream, path);
        return c.body(null, 204);
      }
      await uploadFile(c, stream, path, declared);
      return c.body(null, 201);
    }),
    /** DELETE (ffmpeg's delete_segments) forgets an uploaded name, never what a published playlist names. */
    remove: (c: Context) => refusing(c, async ({ stream, path }) => {
      await authorize(c, stream, path);
      streams.get(stream)?.deletePath(path);
      return c.body(null, 204);
    }),
  };
}
