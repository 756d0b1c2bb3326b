// Upload authorization (docs/contract.md, "origin"), the first phase of every PUT, POST and DELETE: the
// built-in check (with a token, Bearer T or Basic with password T; without one, loopback only), then the
// authorizeUpload hook, which may overrule it.
import type { Context } from 'hono';
import { peerAddress } from '../src/app.js';
import { HookFailed, type HookRunner } from '../src/hooks.js';
import type { Logger } from '../src/log.js';
import { checkUploadAuth } from '../src/upload-auth.js';
import { OriginError } from './errors.js';
import { ORIGIN_HOOKS, type OriginHooks } from './hooks.js';

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
