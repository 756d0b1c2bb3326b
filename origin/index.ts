// The origin role: takes uploads from transcoders, publishes rewritten playlists, serves everything.
import { createHash } from 'node:crypto';
import type { Context } from 'hono';
import { createBaseApp, peerAddress } from '../src/app.js';
import { contentTypeFor, isPlaylistPath } from '../src/media-types.js';
import { evaluateRange, httpDate, notModified, type Validators } from '../src/http-range.js';
import { sendStream } from '../src/send-stream.js';
import { silentLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { decodePlaylist } from '../src/playlist.js';
import type { Role } from '../src/role.js';
import { isValidStreamName, parseStreamPath } from '../src/stream-path.js';
import { checkUploadAuth } from './auth.js';
import { createHookRunner, HookFailed } from '../src/hooks.js';
import { ORIGIN_HOOKS } from './hooks.js';
import { asOriginError, OriginError } from './errors.js';
import { originMetrics, uploadKind } from './metrics.js';
import { ORIGIN_DEFAULTS, type OriginConfig } from './config.js';
import { DiskStorage, storageErrorCode, type Storage, type StorageOp } from './storage.js';
import { OriginStream, type PublishedPlaylist, type StreamLimits } from './stream.js';

export { ORIGIN_DEFAULTS, type OriginConfig, type PublishedEvent } from './config.js';
export type { OriginHooks, PublishedContext, UploadContext } from './hooks.js';

export interface Origin extends Role {
  /** Resolves once all state writes issued so far were tried. */
  flushed(): Promise<void>;
  /** Runs retention once, now (the timer runs it every `sweepIntervalMs`). */
  sweep(): void;
  streams: ReadonlyMap<string, OriginStream>;
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
      throw new OriginError('aborted', 'upload aborted by the client');
    } finally {
      clearTimeout(timer);
    }
    if (result === 'idle') {
      void reader.cancel().catch(() => undefined);
      throw new OriginError('idle_timeout', `no upload data for ${idleMs} ms`);
    }
    if (result.done) return size;
    size += result.value.byteLength;
    if (size > limit) {
      void reader.cancel().catch(() => undefined);
      throw new OriginError('too_large', `upload larger than ${limit} bytes`);
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
  // The origin's own metrics in the registry.
  const stats = originMetrics(metricsRegistry, {
    memoryBytes: () => [...streams.values()].reduce((n, s) => n + s.memoryBytes, 0),
    renditions: () => [...streams.values()].flatMap((s) => s.publisher.renditionStats().flatMap((r) => {
      const p = s.playlist(r.path);
      return p ? [{ stream: s.name, rendition: r.path, msn: r.msn, ageSeconds: (now() - p.at) / 1000 }] : [];
    })),
  });

  const hooks = createHookRunner('origin', config.hooks, { timeoutMs: config.hookTimeoutMs, log, metrics: metricsRegistry });
  const storage = config.storage ?? (config.dataDir !== undefined ? new DiskStorage(config.dataDir) : undefined);

  /** Wires a stream's events to hooks, logs and metrics, and registers it. */
  const attach = (s: OriginStream): OriginStream => {
    const stream = s.name;
    s.onPublished = (path: string, p: PublishedPlaylist) => {
      log.debug('published', { stream, path, etag: p.etag });
      config.onPublished?.({ stream, path, text: p.text, master: p.master });
      if (hooks.has('published')) {
        // A notification: its failure is logged and counted by the runner, the upload stands.
        hooks.call('published', { stream, path, text: p.text, master: p.master, log: log.child({ stream }) }, ORIGIN_HOOKS.published.valid).catch(() => undefined);
      }
    };
    s.onStorageFailed = (op: StorageOp, err: unknown) => {
      const code = storageErrorCode(err);
      stats.storageErrors.inc({ op, code });
      // A failed upload is logged once, with its 507; state writes and removals have no request to answer.
      if (op !== 'blob_write') log.error('storage_failed', { stream, op, code, err });
    };
    streams.set(stream, s);
    return s;
  };

  if (storage !== undefined) {
    for (const name of (await storage.list('')).filter(isValidStreamName)) {
      const s = await OriginStream.load(name, limits, storage, now);
      if (s) {
        attach(s);
        log.info('stream_loaded', { stream: name });
      }
    }
  }

  const streamFor = (name: string): OriginStream => streams.get(name) ?? attach(new OriginStream(name, limits, storage, now));

  const sweep = () => {
    const budget = config.maxMemoryBytes / Math.max(1, streams.size);
    for (const s of streams.values()) s.sweep(budget);
  };
  const sweepTimer = config.sweepIntervalMs > 0 ? setInterval(sweep, config.sweepIntervalMs) : undefined;
  sweepTimer?.unref();

  const app = createBaseApp({
    metrics: metricsRegistry, log,
    allowMethods: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS'],
    ...(config.use ? { use: config.use } : {}),
  });

  /** Answers a refused or failed upload: status from its reason, one log line, counted by reason. */
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

  /** Throws an OriginError unless the request may upload to this path. */
  const authorize = async (c: Context, stream: string, path: string): Promise<void> => {
    const remote = remoteAddress(c);
    let result = checkUploadAuth(c.req.header('authorization'), config.uploadToken, remote);
    if (hooks.has('authorizeUpload')) {
      try {
        const verdict = await hooks.call('authorizeUpload', { request: c.req.raw, stream, path, remoteAddress: remote, defaultDecision: result, log: log.child({ stream }) },
          ORIGIN_HOOKS.authorizeUpload.valid);
        if (verdict !== undefined) result = verdict ? 'ok' : 'wrong';
      } catch (err) {
        if (err instanceof HookFailed) throw new OriginError('hook_failed', err.message, { cause: err });
        throw err;
      }
    }
    if (result === 'missing') throw new OriginError('unauthorized', 'upload credentials required');
    if (result === 'wrong') {
      throw new OriginError('forbidden', config.uploadToken === undefined ? 'uploads are accepted from loopback only (or set --upload-token)' : 'wrong upload credentials');
    }
  };

  const uploadPlaylist = async (c: Context, name: string, path: string): Promise<void> => {
    const chunks: Buffer[] = [];
    await readBody(c.req.raw.body, config.maxPlaylistBytes, config.uploadIdleTimeoutMs, (chunk) => chunks.push(chunk));
    const text = decodePlaylist(Buffer.concat(chunks));
    const { outcome } = streamFor(name).applyPlaylist(path, text);
    stats.uploads.inc({ stream: name, kind: 'playlist' });
    stats.uploadBytes.inc({ stream: name, kind: 'playlist' }, Buffer.byteLength(text));
    if (outcome === 'restart') {
      stats.restarts.inc({ stream: name });
      log.info('restart_detected', { stream: name, path });
    }
  };

  const uploadFile = async (c: Context, name: string, path: string, declared: string | undefined): Promise<void> => {
    const stream = streamFor(name);
    const blob = stream.beginUpload(path);
    const hash = createHash('sha256');
    try {
      const size = await readBody(c.req.raw.body, config.maxFileBytes, config.uploadIdleTimeoutMs, (chunk) => {
        hash.update(chunk);
        blob.append(chunk);
      });
      if (declared !== undefined && size !== Number(declared)) {
        throw new OriginError('length_mismatch', `body of ${size} bytes, Content-Length ${declared}`);
      }
    } catch (err) {
      stream.abortUpload(blob);
      throw err;
    }
    if (!await stream.finishUpload(blob, hash.digest('hex'))) {
      // Answered as a success: by start order it came first and was then replaced by the newer upload.
      stats.superseded.inc();
      log.info('upload_superseded', { stream: name, path, id: blob.id });
      return;
    }
    const kind = uploadKind(path);
    stats.uploads.inc({ stream: name, kind });
    stats.uploadBytes.inc({ stream: name, kind }, blob.size);
    log.debug('upload', { stream: name, path, id: blob.id, bytes: blob.size });
  };

  const upload = async (c: Context) => {
    const parsed = parseStreamPath(new URL(c.req.url).pathname);
    if (!parsed.ok) return reject(c, new OriginError('bad_path', `bad stream path: ${parsed.reason}`));
    const { stream: name, path } = parsed.value;
    try {
      await authorize(c, name, path);
      const playlist = isPlaylistPath(path);
      const limit = playlist ? config.maxPlaylistBytes : config.maxFileBytes;
      const declared = c.req.header('content-length');
      if (declared !== undefined && Number(declared) > limit) throw new OriginError('too_large', `upload larger than ${limit} bytes`);
      if (playlist) {
        await uploadPlaylist(c, name, path);
        return c.body(null, 204);
      }
      await uploadFile(c, name, path, declared);
      return c.body(null, 201);
    } catch (err) {
      const refused = asOriginError(err);
      if (refused instanceof OriginError) return reject(c, refused, { stream: name });
      throw err;
    }
  };

  app.put('/hls/*', upload);
  app.post('/hls/*', upload);

  app.delete('/hls/*', async (c) => {
    const parsed = parseStreamPath(new URL(c.req.url).pathname);
    if (!parsed.ok) return reject(c, new OriginError('bad_path', `bad stream path: ${parsed.reason}`));
    try {
      await authorize(c, parsed.value.stream, parsed.value.path);
    } catch (err) {
      if (err instanceof OriginError) return reject(c, err, { stream: parsed.value.stream });
      throw err;
    }
    streams.get(parsed.value.stream)?.deletePath(parsed.value.path);
    return c.body(null, 204);
  });

  app.get('/hls/*', (c) => {
    const parsed = parseStreamPath(new URL(c.req.url).pathname);
    if (!parsed.ok) {
      stats.requests.inc({ result: 'bad_request' });
      return c.text(`bad stream path: ${parsed.reason}\n`, 400);
    }
    const { stream: name, path } = parsed.value;
    const stream = streams.get(name);
    const notFound = () => {
      stats.requests.inc({ result: 'not_found' });
      return c.text('not found\n', 404, { 'Cache-Control': 'public, max-age=1' });
    };
    if (!stream) return notFound();
    /**
     * A body of known size with validators: 304, 416, 206 (single range, honouring If-Range) or 200, each
     * with its length (HEAD too). `send` answers bytes [start, end] of the body.
     */
    const serveWhole = (headers: Record<string, string>, validators: Validators, size: number, result: 'playlist' | 'file',
      send: (status: 200 | 206, headers: Record<string, string>, start: number, end: number) => Response) => {
      const reqHeaders = c.req.raw.headers;
      if (notModified(reqHeaders, validators)) {
        stats.requests.inc({ result: 'not_modified' });
        return c.body(null, 304, headers);
      }
      const range = evaluateRange(reqHeaders, size, validators);
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
    if (isPlaylistPath(path)) {
      const p = stream.playlist(path);
      if (!p) return notFound();
      const maxAge = p.master ? config.masterMaxAge : Math.max(1, Math.round((p.targetDuration ?? 2) / 2));
      const headers: Record<string, string> = {
        'Content-Type': contentTypeFor(path),
        'Cache-Control': `public, max-age=${maxAge}`,
        'Accept-Ranges': 'bytes',
        ETag: p.etag,
        'Last-Modified': httpDate(p.at),
      };
      return serveWhole(headers, { etag: p.etag, lastModified: p.at }, p.bytes.length, 'playlist',
        (status, h, start, end) => c.body(p.bytes.subarray(start, end + 1), status, h));
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
      stats.requests.inc({ result: 'streaming' });
      return sendStream(c, 200, headers, blob.stream());
    }
    const etag = `"${blob.hash.slice(0, 20)}"`;
    headers.ETag = etag;
    headers['Last-Modified'] = httpDate(blob.completedAt);
    return serveWhole(headers, { etag, lastModified: blob.completedAt }, blob.size, 'file',
      (status, h, start, end) => sendStream(c, status, h, blob.stream(start, end)));
  });

  app.all('/hls/*', (c) => c.text('method not allowed\n', 405, { Allow: 'GET, HEAD, PUT, POST, DELETE, OPTIONS' }));

  return {
    app,
    streams,
    async flushed() {
      await Promise.all([...streams.values()].map((s) => s.flushed()));
    },
    sweep,
    async close() {
      clearInterval(sweepTimer);
      await Promise.all([...streams.values()].map((s) => s.flushed()));
    },
  };
}
