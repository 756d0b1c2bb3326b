// The origin role: takes uploads from transcoders, publishes rewritten playlists, serves everything.
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context } from 'hono';
import { createBaseApp, peerAddress } from '../src/app.js';
import { contentTypeFor, isPlaylistPath } from '../src/media-types.js';
import { evaluateRange, httpDate, notModified } from '../src/http-range.js';
import { sendStream } from '../src/send-stream.js';
import { silentLogger, type Logger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { decodePlaylist, PlaylistError } from '../src/playlist.js';
import type { Role } from '../src/role.js';
import { isValidStreamName, parseStreamPath } from '../src/stream-path.js';
import { checkUploadAuth } from './auth.js';
import { createHookRunner, HookFailed, type OriginHooks } from '../src/hooks.js';
import type { MiddlewareHandler } from 'hono';
import { originMetrics, uploadKind, type RejectReason } from './metrics.js';
import { DEFAULT_MAX_SEGMENT_DURATION } from './publisher.js';
import { OriginStream, type PublishedPlaylist, type StreamLimits } from './stream.js';

export interface OriginConfig {
  /** Where content and rewrite state survive restarts; in memory only without it. */
  dataDir?: string;
  /** Uploads need `Bearer <token>` or Basic with this password; without it, loopback peers only. */
  uploadToken?: string;
  maxPlaylistBytes: number;
  maxFileBytes: number;
  /** An upload that sends nothing for this long is aborted (ms). */
  uploadIdleTimeoutMs: number;
  /** Fewest / most segments in a published window (it follows the uploader's playlist length between them). */
  minWindow: number;
  maxWindow: number;
  /** How long a segment stays servable after leaving the window (ms). */
  segmentGraceMs: number;
  /** Playlists with a longer EXTINF or EXT-X-TARGETDURATION are refused (ms). */
  maxSegmentDurationMs: number;
  /** Uploaded bytes kept in memory; beyond it, uploads no playlist names are evicted, oldest first. */
  maxMemoryBytes: number;
  /** Cache lifetime of master playlists (s). */
  masterMaxAge: number;
  /** Called with every newly published playlist (after it is servable). */
  onPublished?: (event: PublishedEvent) => void;
  hooks?: OriginHooks;
  /** How long a hook may take before its request fails (ms). */
  hookTimeoutMs?: number;
  /** Hono middleware from the config file, run before the routes. */
  use?: MiddlewareHandler[];
  log?: Logger;
  metrics?: Metrics;
  now?: () => number;
}

export interface PublishedEvent {
  stream: string;
  path: string;
  text: string;
  master: boolean;
}

export const ORIGIN_DEFAULTS: Omit<OriginConfig, 'log' | 'metrics' | 'now'> = {
  maxPlaylistBytes: 1024 * 1024,
  maxFileBytes: 64 * 1024 * 1024,
  uploadIdleTimeoutMs: 10_000,
  minWindow: 3,
  maxWindow: 1000,
  segmentGraceMs: 30_000,
  maxSegmentDurationMs: DEFAULT_MAX_SEGMENT_DURATION * 1000,
  maxMemoryBytes: 1024 * 1024 * 1024,
  masterMaxAge: 5,
};

export interface Origin extends Role {
  /** Resolves once all state writes issued so far reached the data dir. */
  flushed(): Promise<void>;
  streams: ReadonlyMap<string, OriginStream>;
}

class UploadRejected extends Error {
  constructor(readonly status: 400 | 408 | 413, readonly reason: RejectReason, message: string) {
    super(message);
  }
}

/** Reads a request body chunk by chunk, enforcing a size limit and an idle timeout. */
async function readBody(body: ReadableStream<Uint8Array> | null, limit: number, idleMs: number, onChunk: (chunk: Buffer) => void): Promise<number> {
  if (!body) return 0;
  const reader = body.getReader();
  let size = 0;
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<'idle'>((resolve) => { timer = setTimeout(() => resolve('idle'), idleMs); });
    let result: ReadableStreamReadResult<Uint8Array> | 'idle';
    try {
      result = await Promise.race([reader.read(), idle]);
    } catch {
      throw new UploadRejected(400, 'aborted', 'upload aborted by the client');
    } finally {
      clearTimeout(timer);
    }
    if (result === 'idle') {
      void reader.cancel().catch(() => undefined);
      throw new UploadRejected(408, 'idle_timeout', `no upload data for ${idleMs} ms`);
    }
    if (result.done) return size;
    size += result.value.byteLength;
    if (size > limit) {
      void reader.cancel().catch(() => undefined);
      throw new UploadRejected(413, 'too_large', `upload larger than ${limit} bytes`);
    }
    onChunk(Buffer.from(result.value.buffer, result.value.byteOffset, result.value.byteLength));
  }
}

function remoteAddress(c: Context): string {
  // In-process requests (app.request in tests) come from this process.
  return peerAddress(c) ?? '127.0.0.1';
}

export async function createOrigin(options: Partial<OriginConfig> = {}): Promise<Origin> {
  const config: OriginConfig = { ...ORIGIN_DEFAULTS, ...options };
  const log = (config.log ?? silentLogger).child({ role: 'origin' });
  const metricsRegistry = config.metrics ?? new Metrics({ role: 'origin' });
  const now = config.now ?? Date.now;
  const limits: StreamLimits = {
    minWindow: config.minWindow, maxWindow: config.maxWindow, graceMs: config.segmentGraceMs, maxSegmentDuration: config.maxSegmentDurationMs / 1000,
  };
  const streams = new Map<string, OriginStream>();
  const m = originMetrics(metricsRegistry, {
    memoryBytes: () => [...streams.values()].reduce((n, s) => n + s.memoryBytes, 0),
    renditions: () => [...streams.values()].flatMap((s) => s.publisher.renditionStats().flatMap((r) => {
      const p = s.playlist(r.path);
      return p ? [{ stream: s.name, rendition: r.path, msn: r.msn, ageSeconds: (now() - p.at) / 1000 }] : [];
    })),
  });

  const hooks = createHookRunner('origin', config.hooks, { timeoutMs: config.hookTimeoutMs ?? 1000, log, metrics: metricsRegistry });
  const onPublished = (stream: string) => (path: string, p: PublishedPlaylist) => {
    log.debug('published', { stream, path, etag: p.etag });
    config.onPublished?.({ stream, path, text: p.text, master: p.master });
    if (hooks.has('published')) {
      // A notification: its failure is logged and counted by the runner, the upload stands.
      hooks.call('published', { stream, path, text: p.text, master: p.master, log: log.child({ stream }) }, () => true).catch(() => undefined);
    }
  };

  if (config.dataDir !== undefined) {
    let names: string[] = [];
    try {
      names = await readdir(config.dataDir);
    } catch { /* a new data dir */ }
    for (const name of names.filter(isValidStreamName)) {
      const s = await OriginStream.load(name, limits, join(config.dataDir, name), now);
      if (s) {
        s.onPublished = onPublished(name);
        streams.set(name, s);
        log.info('stream_loaded', { stream: name });
      }
    }
  }

  const streamFor = (name: string): OriginStream => {
    let s = streams.get(name);
    if (!s) {
      s = new OriginStream(name, limits, config.dataDir !== undefined ? join(config.dataDir, name) : undefined, now);
      s.onPublished = onPublished(name);
      streams.set(name, s);
    }
    return s;
  };

  const sweepTimer = setInterval(() => {
    const budget = config.maxMemoryBytes / Math.max(1, streams.size);
    for (const s of streams.values()) s.sweep(budget);
  }, 1000);
  sweepTimer.unref();

  const app = createBaseApp({
    metrics: metricsRegistry, log,
    allowMethods: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS'],
    ...(config.use ? { use: config.use } : {}),
  });

  const reject = (c: Context, status: 400 | 401 | 403 | 404 | 408 | 409 | 413 | 500, reason: RejectReason, message: string, fields: Record<string, unknown> = {}) => {
    m.rejected.inc({ reason });
    log.warn('upload_rejected', { reason, status, path: new URL(c.req.url).pathname, msg: message, ...fields });
    const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
    if (status === 401) headers['WWW-Authenticate'] = 'Bearer realm="cascade", Basic realm="cascade"';
    // The client may still be sending a body we will not read.
    if (status === 408 || status === 413) headers.Connection = 'close';
    return c.text(`${message}\n`, status, headers);
  };

  const authorize = async (c: Context, stream: string, path: string): Promise<Response | undefined> => {
    const remote = remoteAddress(c);
    let result = checkUploadAuth(c.req.header('authorization'), config.uploadToken, remote);
    if (hooks.has('authorizeUpload')) {
      try {
        const verdict = await hooks.call('authorizeUpload', { request: c.req.raw, stream, path, remoteAddress: remote, defaultDecision: result, log: log.child({ stream }) },
          (v) => v === undefined || typeof v === 'boolean');
        if (verdict !== undefined) result = verdict ? 'ok' : 'wrong';
      } catch (err) {
        if (err instanceof HookFailed) return reject(c, 500, 'hook_failed', err.message, { stream });
        throw err;
      }
    }
    if (result === 'missing') return reject(c, 401, 'unauthorized', 'upload credentials required');
    if (result === 'wrong') {
      return reject(c, 403, 'forbidden', config.uploadToken === undefined ? 'uploads are accepted from loopback only (or set --upload-token)' : 'wrong upload credentials');
    }
    return undefined;
  };

  const upload = async (c: Context) => {
    const parsed = parseStreamPath(new URL(c.req.url).pathname);
    if (!parsed.ok) return reject(c, 400, 'bad_path', `bad stream path: ${parsed.reason}`);
    const { stream: name, path } = parsed.value;
    const denied = await authorize(c, name, path);
    if (denied) return denied;
    const kind = uploadKind(path);
    const playlist = isPlaylistPath(path);
    const limit = playlist ? config.maxPlaylistBytes : config.maxFileBytes;
    const declared = c.req.header('content-length');
    if (declared !== undefined && Number(declared) > limit) {
      return reject(c, 413, 'too_large', `upload larger than ${limit} bytes`, { stream: name });
    }
    const stream = streamFor(name);
    if (playlist) {
      const chunks: Buffer[] = [];
      try {
        await readBody(c.req.raw.body, limit, config.uploadIdleTimeoutMs, (chunk) => chunks.push(chunk));
      } catch (err) {
        if (err instanceof UploadRejected) return reject(c, err.status, err.reason, err.message, { stream: name });
        throw err;
      }
      let text: string;
      let outcome;
      try {
        text = decodePlaylist(Buffer.concat(chunks));
        outcome = stream.applyPlaylist(path, text).outcome;
      } catch (err) {
        if (err instanceof PlaylistError) return reject(c, 400, err.reason, err.message, { stream: name });
        if (err instanceof TypeError) return reject(c, 409, 'type_changed', err.message, { stream: name });
        throw err;
      }
      m.uploads.inc({ stream: name, kind });
      m.uploadBytes.inc({ stream: name, kind }, Buffer.byteLength(text));
      if (outcome === 'restart') {
        m.restarts.inc({ stream: name });
        log.info('restart_detected', { stream: name, path });
      }
      return c.body(null, 204);
    }
    const blob = stream.beginUpload(path);
    const hash = createHash('sha256');
    try {
      const size = await readBody(c.req.raw.body, limit, config.uploadIdleTimeoutMs, (chunk) => {
        hash.update(chunk);
        blob.append(chunk);
      });
      if (declared !== undefined && size !== Number(declared)) {
        throw new UploadRejected(400, 'length_mismatch', `body of ${size} bytes, Content-Length ${declared}`);
      }
    } catch (err) {
      stream.abortUpload(blob);
      if (err instanceof UploadRejected) return reject(c, err.status, err.reason, err.message, { stream: name });
      throw err;
    }
    await stream.finishUpload(blob, hash.digest('hex'));
    m.uploads.inc({ stream: name, kind });
    m.uploadBytes.inc({ stream: name, kind }, blob.size);
    log.debug('upload', { stream: name, path, id: blob.id, bytes: blob.size });
    return c.body(null, 201);
  };

  app.put('/hls/*', upload);
  app.post('/hls/*', upload);

  app.delete('/hls/*', async (c) => {
    const parsed = parseStreamPath(new URL(c.req.url).pathname);
    if (!parsed.ok) return reject(c, 400, 'bad_path', `bad stream path: ${parsed.reason}`);
    const denied = await authorize(c, parsed.value.stream, parsed.value.path);
    if (denied) return denied;
    streams.get(parsed.value.stream)?.deletePath(parsed.value.path);
    return c.body(null, 204);
  });

  app.get('/hls/*', (c) => {
    const parsed = parseStreamPath(new URL(c.req.url).pathname);
    if (!parsed.ok) {
      m.requests.inc({ result: 'bad_request' });
      return c.text(`bad stream path: ${parsed.reason}\n`, 400);
    }
    const { stream: name, path } = parsed.value;
    const stream = streams.get(name);
    const notFound = () => {
      m.requests.inc({ result: 'not_found' });
      return c.text('not found\n', 404, { 'Cache-Control': 'public, max-age=1' });
    };
    if (!stream) return notFound();
    const reqHeaders = c.req.raw.headers;
    if (isPlaylistPath(path)) {
      const p = stream.playlist(path);
      if (!p) return notFound();
      const maxAge = p.master ? config.masterMaxAge : Math.max(1, Math.round((p.targetDuration ?? 2) / 2));
      const headers: Record<string, string> = {
        'Content-Type': contentTypeFor(path),
        'Cache-Control': `public, max-age=${maxAge}`,
        ETag: p.etag,
        'Last-Modified': httpDate(p.at),
      };
      if (notModified(reqHeaders, { etag: p.etag, lastModified: p.at })) {
        m.requests.inc({ result: 'not_modified' });
        return c.body(null, 304, headers);
      }
      m.requests.inc({ result: 'playlist' });
      return c.body(p.text, 200, headers);
    }
    const found = stream.file(path);
    if (!found) return notFound();
    const { blob, immutable } = found;
    const headers: Record<string, string> = {
      'Content-Type': contentTypeFor(path),
      'Cache-Control': immutable ? 'public, max-age=86400, immutable' : 'public, max-age=1',
      'Accept-Ranges': 'bytes',
    };
    if (blob.state !== 'complete') {
      // Read-while-write: no length yet, so chunked; an aborted upload errors the stream and the client sees a cut body.
      m.requests.inc({ result: 'streaming' });
      return sendStream(c, 200, headers, blob.stream());
    }
    const etag = `"${blob.hash.slice(0, 20)}"`;
    headers.ETag = etag;
    headers['Last-Modified'] = httpDate(blob.completedAt);
    const validators = { etag, lastModified: blob.completedAt };
    if (notModified(reqHeaders, validators)) {
      m.requests.inc({ result: 'not_modified' });
      return c.body(null, 304, headers);
    }
    const range = evaluateRange(reqHeaders, blob.size, validators);
    if (range.type === 'unsatisfiable') {
      m.requests.inc({ result: 'range_unsatisfiable' });
      return c.body(null, 416, { ...headers, 'Content-Range': `bytes */${blob.size}` });
    }
    if (range.type === 'partial') {
      m.requests.inc({ result: 'partial' });
      return sendStream(c, 206, { ...headers, 'Content-Range': `bytes ${range.start}-${range.end}/${blob.size}`, 'Content-Length': String(range.end - range.start + 1) },
        blob.stream(range.start, range.end));
    }
    m.requests.inc({ result: 'file' });
    return sendStream(c, 200, { ...headers, 'Content-Length': String(blob.size) }, blob.stream());
  });

  app.all('/hls/*', (c) => c.text('method not allowed\n', 405, { Allow: 'GET, HEAD, PUT, POST, DELETE, OPTIONS' }));

  return {
    app,
    streams,
    async flushed() {
      await Promise.all([...streams.values()].map((s) => s.flushed()));
    },
    async close() {
      clearInterval(sweepTimer);
      await Promise.all([...streams.values()].map((s) => s.flushed()));
    },
  };
}
