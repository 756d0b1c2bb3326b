// Upload authorization (docs/contract.md, "origin"), the first phase of every PUT, POST and DELETE: the
// built-in check, then the authorizeUpload hook, which may overrule it. The built-in check takes Bearer T
// or Basic with password T, where T is the global --upload-token (every stream) or the stream's own
// token (origin/upload-credentials.ts: that stream only); with neither configured, loopback peers only.
import { timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { peerAddress } from '../src/app.js';
import { HookFailed, type HookRunner } from '../src/hooks.js';
import type { Logger } from '../src/log.js';
import { OriginError } from './errors.js';
import { ORIGIN_HOOKS, type OriginHooks, type UploadContext } from './hooks.js';
import type { StreamTokens } from './upload-credentials.js';

export type AuthResult = UploadContext['defaultDecision'];

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return a === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

/** The token an Authorization header presents (Bearer T, or Basic with password T), if any. */
function presentedToken(authorization: string): string | undefined {
  const [scheme, value = ''] = authorization.trim().split(/\s+/, 2);
  if (/^bearer$/i.test(scheme ?? '')) return value;
  if (/^basic$/i.test(scheme ?? '')) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon === -1 ? '' : decoded.slice(colon + 1);
  }
  return undefined;
}

/**
 * Checks an upload's credentials against `tokens`, the tokens good for its stream (undefined: no
 * credentials configured, loopback peers only; empty: configured, none for this stream); `remote` is
 * the peer address.
 */
export function checkUploadAuth(authorization: string | undefined, tokens: readonly string[] | undefined, remote: string | undefined): AuthResult {
  if (tokens === undefined) return isLoopback(remote) ? 'ok' : 'wrong';
  const presented = authorization ? presentedToken(authorization) : undefined;
  if (presented === undefined) return 'missing';
  // Every token is compared, so the time taken does not say which one matched.
  let ok = false;
  for (const token of tokens) ok = same(presented, token) || ok;
  return ok ? 'ok' : 'wrong';
}

/** Throws an OriginError (401, 403; 500 when the hook failed) unless the request may upload to this path. */
export type UploadAuthorizer = (c: Context, stream: string, path: string) => Promise<void>;

export function uploadAuthorizer(uploadToken: string | undefined, streamTokens: StreamTokens | undefined, hooks: HookRunner<OriginHooks>, log: Logger): UploadAuthorizer {
  const configured = uploadToken !== undefined || streamTokens !== undefined;
  const tokensFor = (stream: string): string[] | undefined => {
    if (!configured) return undefined;
    const own = streamTokens?.get(stream);
    return [...(uploadToken !== undefined ? [uploadToken] : []), ...(own !== undefined ? [own] : [])];
  };
  return async function authorizeUpload(c, stream, path) {
    // In-process requests (app.request in tests) come from this process.
    const remoteAddress = peerAddress(c) ?? '127.0.0.1';
    let result = checkUploadAuth(c.req.header('authorization'), tokensFor(stream), remoteAddress);
    if (hooks.has('authorizeUpload')) {
      try {
        const verdict = await hooks.call('authorizeUpload',
          { request: c.req.raw, stream, path, remoteAddress, defaultDecision: result, log: log.child({ stream }) },
          ORIGIN_HOOKS.authorizeUpload.valid);
        if (verdict !== undefined) result = verdict ? 'ok' : 'wrong';
      } catch (err) {
        if (err instanceof HookFailed) throw new OriginError('hook_failed', err.message, { cause: err });
        throw err;
      }
    }
    if (result === 'missing') throw new OriginError('unauthorized', 'upload credentials required');
    if (result === 'wrong') {
      throw new OriginError('forbidden', configured ? 'wrong upload credentials' : 'uploads are accepted from loopback only (or set --upload-token)');
    }
  };
}
