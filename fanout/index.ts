// The upload fan-out role: takes the transcoder's uploads (PUT/POST/DELETE under /hls/, the origin's paths and
// auth) and forwards each to every origin at once, streaming bodies while they arrive (fanout/origin-link.ts:
// retries, bounds, metrics per origin). createFanout wires configuration -> one link per origin -> the app.
import { randomBytes } from 'node:crypto';
import type { Context } from 'hono';
import { createBaseApp, peerAddress, streamPathOf } from '../src/app.js';
import { FEED_HEADER, FEED_ID } from '../src/feed.js';
import { silentLogger } from '../src/log.js';
import { isPlaylistPath } from '../src/media-types.js';
import { Metrics } from '../src/metrics.js';
import type { Role } from '../src/role.js';
import { checkUploadAuth } from '../src/upload-auth.js';
import { readUploadBody, UploadBodyError } from '../src/upload-body.js';
import { FANOUT_DEFAULTS, type FanoutConfig } from './config.js';
import { fanoutMetrics } from './metrics.js';
import { OriginLink, type FirstTry, type Upload } from './origin-link.js';
import { RetainedBody } from './retained-body.js';

export { FANOUT_DEFAULTS, type FanoutConfig } from './config.js';
export type { SendOutcome } from './metrics.js';

const METHODS = ['PUT', 'POST', 'DELETE', 'OPTIONS'];
/** Request headers an origin needs to take an upload as the uploader sent it. */
const PASSED_ON = ['content-type', 'content-length'];

export interface Fanout extends Role {
  /** The feed id sent to the origins with every upload. */
  feedId: string;
  links: readonly OriginLink[];
}

export function createFanout(options: Partial<FanoutConfig> & Pick<FanoutConfig, 'origins'>): Fanout {
  const config: FanoutConfig = { ...FANOUT_DEFAULTS, ...options };
  if (config.origins.length === 0) throw new Error('the fan-out needs at least one origin');
  const log = (config.log ?? silentLogger).child({ role: 'fanout' });
  const metrics = config.metrics ?? new Metrics({ role: 'fanout' });
  const now = config.now ?? Date.now;
  const feedId = config.feedId ?? randomBytes(8).toString('hex');
  if (!FEED_ID.test(feedId)) throw new Error(`a feed id must match ${FEED_ID.source}`);
  const stats = fanoutMetrics(metrics, () => new Map(links.map((l) => [l.url, l.queued])));
  const links = config.origins.map((url) => new OriginLink(url.replace(/\/+$/, ''), {
    segmentRetryMs: config.segmentRetryMs, playlistRetryMs: config.playlistRetryMs, maxBackoffMs: config.maxBackoffMs,
    maxLagBytes: config.maxLagBytes, maxQueued: config.maxQueuedPerOrigin, timeoutMs: config.originTimeoutMs, now, stats, log,
  }));
  let seq = 0;

  const refuse = (c: Context, status: 400 | 401 | 403 | 408 | 413, message: string) => {
    log.warn('upload_refused', { status, path: c.req.path, msg: message });
    const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
    if (status === 401) headers['WWW-Authenticate'] = 'Bearer realm="cascade", Basic realm="cascade"';
    if (status === 408 || status === 413) headers.Connection = 'close';
    return c.text(`${message}\n`, status, headers);
  };

  async function upload(c: Context): Promise<Response> {
    const target = streamPathOf(c);
    const auth = checkUploadAuth(c.req.header('authorization'), config.uploadToken !== undefined ? [config.uploadToken] : undefined, peerAddress(c) ?? '127.0.0.1');
    if (auth === 'missing') return refuse(c, 401, 'upload credentials required');
    if (auth === 'wrong') return refuse(c, 403, config.uploadToken === undefined ? 'uploads are accepted from loopback only (or set --upload-token)' : 'wrong upload credentials');
    const method = c.req.method as Upload['method'];
    const kind = isPlaylistPath(target.path) ? 'playlist' : 'segment';
    const limit = kind === 'playlist' ? config.maxPlaylistBytes : config.maxFileBytes;
    const declared = c.req.header('content-length');
    if (declared !== undefined && Number(declared) > limit) return refuse(c, 413, `upload larger than ${limit} bytes`);
    const headers: Record<string, string> = { [FEED_HEADER]: feedId };
    for (const name of PASSED_ON) {
      const value = c.req.header(name);
      if (value !== undefined) headers[name] = value;
    }
    const authorization = config.originToken !== undefined ? `Bearer ${config.originToken}` : c.req.header('authorization');
    if (authorization !== undefined) headers.authorization = authorization;
    const body = method === 'DELETE' ? undefined : new RetainedBody(now);
    const up: Upload = { method, path: c.req.path, kind, headers, seq: seq++, ...(body ? { body } : {}) };
    const answers = links.map((l) => l.forward(up));
    if (body) {
      const refused = await receive(c, body, limit);
      if (refused) return refuse(c, refused.status, refused.message);
    }
    const answer = await firstAnswer(answers, config.answerTimeoutMs);
    if (answer === undefined) return c.body(null, 202, { 'Cache-Control': 'no-store' });
    return c.body(null, answer as 200, { 'Cache-Control': 'no-store' });
  }

  /** Reads the uploader's body into `body`; a refusal (too large, idle, broken off) fails it for every origin. */
  async function receive(c: Context, body: RetainedBody, limit: number): Promise<UploadBodyError | undefined> {
    try {
      await readUploadBody(c.req.raw.body, limit, config.uploadIdleTimeoutMs, (chunk) => body.push(chunk));
      body.end();
      return undefined;
    } catch (err) {
      body.fail();
      if (err instanceof UploadBodyError) return err;
      throw err;
    }
  }

  const app = createBaseApp({ metrics, log, allowMethods: METHODS });
  app.put('/hls/*', upload);
  app.post('/hls/*', upload);
  app.delete('/hls/*', upload);
  app.all('/hls/*', (c) => c.text('method not allowed: the fan-out only takes uploads\n', 405, { Allow: METHODS.join(', ') }));

  return {
    app,
    feedId,
    links,
    async close() {
      await Promise.all(links.map((l) => l.close()));
    },
  };
}

/**
 * The status the uploader gets: the first origin's answer that is a verdict (2xx, or a 4xx: the upload
 * itself is wrong, every origin would say so), else undefined (202: the upload is queued for retries)
 * once every origin failed its first try or `timeoutMs` passed.
 */
async function firstAnswer(answers: Promise<FirstTry>[], timeoutMs: number): Promise<number | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => { timer = setTimeout(resolve, timeoutMs, undefined); });
  const verdict = new Promise<number | undefined>((resolve) => {
    let pending = answers.length;
    for (const a of answers) {
      void a.then((answer) => {
        if ('status' in answer && answer.status < 500) resolve(answer.status);
        else if (--pending === 0) resolve(undefined);
      });
    }
  });
  try {
    return await Promise.race([verdict, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
