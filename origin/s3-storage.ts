// The origin's Storage on S3 (or any S3-compatible server), for `--storage s3://bucket/prefix` (issue 13):
// an origin process becomes disposable, and a second origin can take over the same streams.
//
// S3 gives what the Storage contract asks for: PutObject replaces an object whole and atomically (a reader
// sees the old or the new one), reads after a completed write see it (strong read-after-write consistency
// on AWS since December 2020), keys are opaque strings in which '/' is only a convention that ListObjectsV2
// with a delimiter turns back into "folders". Every failure rejects (or errors the read stream) within a
// bounded time, with a stable `code` for the origin's storage-error metric (S3_ERROR_CODES).
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { UsageError } from '../src/options.js';
import { S3_ERROR_CODES, type S3ErrorCode, type Storage } from './storage.js';

/** Where the objects live: a bucket and a key prefix ('' or '/'-separated segments, no slash at either end). */
export interface S3Location {
  bucket: string;
  prefix: string;
}

// https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html (general purpose buckets):
// 3-63 of [a-z0-9.-], starting and ending with a letter or digit, no '..', not an IPv4 address.
const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
// Prefix segments: the characters of the origin's own keys (stream names, paths), which need no escaping
// anywhere (URLs, XML listings, shells) and mean the same on every S3 implementation.
const PREFIX_SEGMENT_RE = /^[A-Za-z0-9._-]+$/;

/** Parses `s3://bucket[/prefix]`; throws UsageError saying what is wrong. Credentials never go in the URL. */
export function parseS3Url(text: string): S3Location {
  const m = /^s3:\/\/([^/?#]*)([^?#]*)(.*)$/i.exec(text);
  if (!m) throw new UsageError(`not an S3 URL: '${text}' (expected s3://bucket or s3://bucket/prefix)`);
  const [, authority = '', path = '', rest = ''] = m;
  if (!text.startsWith('s3://')) throw new UsageError(`not an S3 URL: '${text}' (the scheme is written s3://)`);
  if (authority.includes('@')) {
    throw new UsageError('an S3 URL carries no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead');
  }
  if (rest !== '') throw new UsageError(`S3 URL '${text}': no query or fragment is taken`);
  if (authority === '') throw new UsageError(`S3 URL '${text}' names no bucket (expected s3://bucket/prefix)`);
  if (authority.includes(':')) {
    throw new UsageError(`S3 URL '${text}': the endpoint (host and port) goes in AWS_ENDPOINT_URL, not in the URL`);
  }
  if (!BUCKET_RE.test(authority) || authority.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(authority)) {
    throw new UsageError(`S3 URL '${text}': '${authority}' is not a valid bucket name (3-63 of a-z 0-9 . -, starting and ending with a letter or digit)`);
  }
  const prefix = path.replace(/^\/|\/$/g, '');
  if (prefix !== '') {
    for (const segment of prefix.split('/')) {
      if (segment === '') throw new UsageError(`S3 URL '${text}': empty segment in the prefix`);
      if (segment === '.' || segment === '..') throw new UsageError(`S3 URL '${text}': dot segment in the prefix`);
      if (!PREFIX_SEGMENT_RE.test(segment)) throw new UsageError(`S3 URL '${text}': the prefix may contain only A-Z a-z 0-9 . _ - and /`);
    }
  }
  return { bucket: authority, prefix };
}

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** How to reach the S3 service, from the usual AWS variables. */
export interface S3Connection {
  /** A custom endpoint (SeaweedFS, MinIO, Ceph, R2, ...), addressed path-style; undefined for AWS itself. */
  endpoint?: string;
  region: string;
  /** Static credentials; undefined lets the AWS SDK's default chain find them (profiles, web identity, instance role). */
  credentials?: S3Credentials;
}

/**
 * Reads AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL), AWS_REGION (or AWS_DEFAULT_REGION), AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN. Throws UsageError for an unusable combination.
 */
export function s3ConnectionFromEnv(env: NodeJS.ProcessEnv = process.env): S3Connection {
  const value = (name: string) => (env[name] === '' ? undefined : env[name]);
  const endpointVar = value('AWS_ENDPOINT_URL_S3') !== undefined ? 'AWS_ENDPOINT_URL_S3' : 'AWS_ENDPOINT_URL';
  const endpoint = value(endpointVar);
  if (endpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new UsageError(`${endpointVar}: not a URL: '${endpoint}'`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${endpointVar}: not an http(s) URL: '${endpoint}'`);
    if (url.username !== '' || url.password !== '') {
      throw new UsageError(`${endpointVar} carries no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead`);
    }
  }
  const region = value('AWS_REGION') ?? value('AWS_DEFAULT_REGION') ?? (endpoint !== undefined ? 'us-east-1' : undefined);
  if (region === undefined) throw new UsageError('S3 storage needs a region: set AWS_REGION (or AWS_ENDPOINT_URL for an S3-compatible server)');
  const accessKeyId = value('AWS_ACCESS_KEY_ID');
  const secretAccessKey = value('AWS_SECRET_ACCESS_KEY');
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new UsageError('set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither (then the AWS default credential chain is used)');
  }
  const sessionToken = value('AWS_SESSION_TOKEN');
  const credentials = accessKeyId !== undefined && secretAccessKey !== undefined
    ? { accessKeyId, secretAccessKey, ...(sessionToken !== undefined ? { sessionToken } : {}) }
    : undefined;
  return { ...(endpoint !== undefined ? { endpoint } : {}), region, ...(credentials ? { credentials } : {}) };
}

/**
 * Bounds on every request. The SDK's own defaults wait without limit (no connect, request or idle timeout),
 * so a hung S3 would hang uploads; these make every operation fail within `operationMs`.
 */
export interface S3Timeouts {
  /** TCP (and TLS) connect, per attempt. */
  connectMs: number;
  /** From sending a request to the response headers, per attempt; a put adds its size at `minBytesPerSecond`. */
  requestMs: number;
  /** A response body that is silent this long, while its reader waits for it, fails the read. */
  idleMs: number;
  /** The whole operation, all attempts and back-off included (for read: until the body starts). */
  operationMs: number;
  /** Attempts per operation (1 = no retry); throttling, 5xx, timeouts and network errors are retried. */
  attempts: number;
  /** The slowest upload that is no failure: a put of n bytes may take n / this longer, per attempt. */
  minBytesPerSecond: number;
}

export const DEFAULT_S3_TIMEOUTS: Readonly<S3Timeouts> = Object.freeze({
  connectMs: 2000, requestMs: 5000, idleMs: 5000, operationMs: 12_000, attempts: 3, minBytesPerSecond: 1024 * 1024,
});

export type S3StorageOptions = S3Location & S3Connection & { timeouts?: Partial<S3Timeouts> };

/**
 * Stable error codes of S3 failures, for the `code` label of `cascade_origin_storage_errors_total` (a
 * bounded set: everything else is 'other'). A missing object read through `read` is 'ENOENT', as on disk.
 */

/** A failed S3 operation: `code` is one of S3_ERROR_CODES (or 'ENOENT', 'other'); `cause` is the SDK's error. */
export class S3StorageError extends Error {
  override name = 'S3StorageError';
  constructor(readonly code: S3ErrorCode | 'ENOENT' | 'other', message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

const NETWORK_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const THROTTLING = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'TooManyRequests', 'TooManyRequestsException', 'RequestLimitExceeded']);
const DENIED = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'TokenRefreshRequired']);

/** The stable code of an error thrown by the SDK (or by its HTTP handler) for one operation. */
export function s3ErrorCode(err: unknown): S3ErrorCode | 'other' {
  const e = err as { name?: unknown; code?: unknown; $metadata?: { httpStatusCode?: number } } | null;
  const name = typeof e?.name === 'string' ? e.name : '';
  const errno = typeof e?.code === 'string' ? e.code : '';
  const status = e?.$metadata?.httpStatusCode;
  if (name === 'TimeoutError' || name === 'AbortError' || name === 'RequestTimeout' || errno === 'ETIMEDOUT') return 'S3_TIMEOUT';
  if (NETWORK_ERRNOS.has(errno)) return 'S3_UNREACHABLE';
  if (THROTTLING.has(name) || status === 429 || status === 503) return 'S3_THROTTLED';
  if (name === 'NoSuchBucket') return 'S3_NO_SUCH_BUCKET';
  if (DENIED.has(name) || status === 403) return 'S3_ACCESS_DENIED';
  if (status !== undefined && status >= 500) return 'S3_SERVER_ERROR';
  if (status !== undefined && status >= 400) return 'S3_REJECTED';
  return 'other';
}

function isNotFound(err: unknown): boolean {
  return err instanceof S3ServiceException && (err.name === 'NoSuchKey' || err.$metadata.httpStatusCode === 404) && err.name !== 'NoSuchBucket';
}

/** 416: a range that starts at or past the end (S3 has no empty range): the bytes of [start, end] that exist are none. */
function isUnsatisfiableRange(err: unknown): boolean {
  return err instanceof S3ServiceException && (err.name === 'InvalidRange' || err.$metadata.httpStatusCode === 416);
}

/**
 * The chunks of a response body, all of them: waiting longer than `idleMs` for the next one fails, and so
 * does a body that ends short of its Content-Length (never a cut body passed on as complete). The wait
 * only runs while the reader pulls: a reader that holds back is no stalled server. That is why the HTTP
 * handler has no socket idle timeout, which would fire on backpressure too.
 */
async function* bodyChunks(body: Readable, length: number | undefined, idleMs: number): AsyncGenerator<Uint8Array> {
  const chunks = body[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
  let received = 0;
  try {
    for (;;) {
      const next = chunks.next();
      next.catch(() => undefined); // when the timer wins, destroy() below settles it
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error(`no body data for ${idleMs} ms`), { name: 'TimeoutError' })), idleMs);
      });
      const r = await Promise.race([next, idle]).finally(() => clearTimeout(timer));
      if (r.done === true) break;
      received += r.value.byteLength;
      yield r.value;
    }
  } finally {
    body.destroy();
  }
  if (length !== undefined && received !== length) {
    throw Object.assign(new Error(`body ended after ${received} of ${length} bytes`), { code: 'ECONNRESET' });
  }
}

/** Objects in one bucket under one key prefix. `close()` releases its connections. */
export class S3Storage implements Storage {
  readonly bucket: string;
  readonly prefix: string;
  private readonly client: S3Client;
  private readonly timeouts: S3Timeouts;

  constructor(options: S3StorageOptions) {
    this.bucket = options.bucket;
    this.prefix = options.prefix;
    this.timeouts = { ...DEFAULT_S3_TIMEOUTS, ...options.timeouts };
    const t = this.timeouts;
    this.client = new S3Client({
      region: options.region,
      ...(options.endpoint !== undefined ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
      ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
      maxAttempts: t.attempts,
      retryMode: 'standard',
      requestHandler: { connectionTimeout: t.connectMs, requestTimeout: t.requestMs, throwOnRequestTimeout: true },
    });
  }

  /** An S3Storage for `s3://bucket/prefix`, connected as the AWS variables in `env` say. Throws UsageError. */
  static fromUrl(url: string, env: NodeJS.ProcessEnv = process.env, timeouts?: Partial<S3Timeouts>): S3Storage {
    return new S3Storage({ ...parseS3Url(url), ...s3ConnectionFromEnv(env), ...(timeouts ? { timeouts } : {}) });
  }

  close(): void {
    this.client.destroy();
  }

  private objectKey(key: string): string {
    return this.prefix === '' ? key : `${this.prefix}/${key}`;
  }

  private fail(op: string, key: string, err: unknown): S3StorageError {
    const code = s3ErrorCode(err);
    const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    return new S3StorageError(code, `S3 ${op} s3://${this.bucket}/${this.objectKey(key)}: ${code} (${detail})`, { cause: err });
  }

  /** Runs `op` with the operation's bound on all its attempts (for a get: until the response headers). */
  private async bounded<T>(op: (abortSignal: AbortSignal) => Promise<T>, extraMs = 0): Promise<T> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeouts.operationMs + extraMs);
    try {
      return await op(controller.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  async put(key: string, bytes: Uint8Array | string): Promise<void> {
    const body = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
    const t = this.timeouts;
    // The request timeout runs while the body is sent too: a large object gets the time it needs at the slowest acceptable rate.
    const uploadMs = Math.ceil((body.byteLength * 1000) / t.minBytesPerSecond);
    try {
      await this.bounded((abortSignal) => this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), Body: body, ContentLength: body.byteLength }),
        { abortSignal, requestTimeout: t.requestMs + uploadMs },
      ), uploadMs * t.attempts);
    } catch (err) {
      throw this.fail('put', key, err);
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    let res;
    try {
      res = await this.bounded((abortSignal) => this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }), { abortSignal }));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw this.fail('get', key, err);
    }
    if (res.Body === undefined) return Buffer.alloc(0);
    const parts: Uint8Array[] = [];
    try {
      for await (const chunk of bodyChunks(res.Body as Readable, res.ContentLength, this.timeouts.idleMs)) parts.push(chunk);
    } catch (err) {
      throw this.fail('get', key, err);
    }
    return Buffer.concat(parts);
  }

  read(key: string, start: number, end: number): ReadableStream<Uint8Array> {
    let body: Readable | undefined;
    const chunks = this.readChunks(key, start, end, (b) => { body = b; });
    // highWaterMark 0: the request starts when the reader first pulls, not when the stream is made.
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = await chunks.next();
        if (next.done === true) controller.close();
        else controller.enqueue(next.value);
      },
      async cancel() {
        // A pull may be waiting on the body: destroying it ends that wait, and then the generator.
        body?.destroy();
        await chunks.return(undefined).catch(() => undefined);
      },
    }, { highWaterMark: 0 });
  }

  private async *readChunks(key: string, start: number, end: number, opened: (body: Readable) => void): AsyncGenerator<Uint8Array> {
    let res;
    try {
      res = await this.bounded((abortSignal) => this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), Range: `bytes=${start}-${end}` }),
        { abortSignal },
      ));
    } catch (err) {
      if (isUnsatisfiableRange(err)) return;
      if (isNotFound(err)) throw new S3StorageError('ENOENT', `S3 read s3://${this.bucket}/${this.objectKey(key)}: no such object`, { cause: err });
      throw this.fail('read', key, err);
    }
    if (res.Body === undefined) return;
    opened(res.Body as Readable);
    // A server that ignores Range answers 200 with the whole object: passed on, those would be the wrong bytes.
    if (res.ContentRange?.startsWith(`bytes ${start}-`) !== true) {
      (res.Body as Readable).destroy();
      throw new S3StorageError('other', `S3 read s3://${this.bucket}/${this.objectKey(key)}: asked for bytes ${start}-${end}, got ${res.ContentRange ?? 'no Content-Range'}`);
    }
    try {
      yield* bodyChunks(res.Body as Readable, res.ContentLength, this.timeouts.idleMs);
    } catch (err) {
      throw this.fail('read', key, err);
    }
  }

  async remove(key: string): Promise<void> {
    try {
      await this.bounded((abortSignal) => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }), { abortSignal }));
    } catch (err) {
      // S3 answers 204 for a missing key; some compatible servers answer 404.
      if (isNotFound(err)) return;
      throw this.fail('remove', key, err);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const base = prefix === '' ? this.prefix : this.objectKey(prefix);
    const listPrefix = base === '' ? '' : `${base}/`;
    const names: string[] = [];
    let token: string | undefined;
    try {
      do {
        const page = { Bucket: this.bucket, Prefix: listPrefix, Delimiter: '/', ...(token !== undefined ? { ContinuationToken: token } : {}) };
        const res = await this.bounded((abortSignal) => this.client.send(new ListObjectsV2Command(page), { abortSignal }));
        for (const p of res.CommonPrefixes ?? []) if (p.Prefix !== undefined) names.push(p.Prefix.slice(listPrefix.length, -1));
        for (const o of res.Contents ?? []) if (o.Key !== undefined && o.Key !== listPrefix) names.push(o.Key.slice(listPrefix.length));
        token = res.IsTruncated === true ? res.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (err) {
      throw this.fail('list', prefix, err);
    }
    return names;
  }
}
