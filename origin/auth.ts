// Upload authorization (docs/contract.md, "origin"), the first phase of every PUT, POST and DELETE: the
// built-in check (with a token, Bearer T or Basic with password T; without one, loopback only), then the
// authorizeUpload hook, which may overrule it.
import { timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { peerAddress } from '../src/app.js';
import { HookFailed, type HookRunner } from '../src/hooks.js';
import type { Logger } from '../src/log.js';
import { OriginError } from './errors.js';
import { ORIGIN_HOOKS, type OriginHooks, type UploadContext } from './hooks.js';

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

/** Checks an upload's credentials against the configured token; `remote` is the peer address. */
export function checkUploadAuth(authorization: string | undefined, token: string | undefined, remote: string | undefined): AuthResult {
  if (token === undefined) return isLoopback(remote) ? 'ok' : 'wrong';
  if (!authorization) return 'missing';
  const [scheme, value = ''] = authorization.trim().split(/\s+/, 2);
  if (/^bearer$/i.test(scheme ?? '')) return same(value, token) ? 'ok' : 'wrong';
  if (/^basic$/i.test(scheme ?? '')) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon !== -1 && same(decoded.slice(colon + 1), token) ? 'ok' : 'wrong';
  }
  return 'missing';
}

/** Throws an OriginError (401, 403; 500 when the hook failed) unless the request may upload to this path. */
export type UploadAuthorizer = (c: Context, stream: string, path: string) => Promise<void>;

export function uploadAuthorizer(uploadToken: string | undefined, hooks: HookRunner<OriginHooks>, log: Logger): UploadAuthorizer {
  return async function authorizeUpload(c, stream, path) {
    // In-process requests (app.request in tests) come from this process.
    const remoteAddress = peerAddress(c) ?? '127.0.0.1';
    let result = checkUploadAuth(c.req.header('authorization'), uploadToken, remoteAddress);
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
      throw new OriginError('forbidden', uploadToken === undefined ? 'uploads are accepted from loopback only (or set --upload-token)' : 'wrong upload credentials');
    }
  };
}
