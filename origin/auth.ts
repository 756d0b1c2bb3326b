// Upload authorization (docs/contract.md, "origin"), the first phase of every PUT, POST and DELETE: the
// built-in check, then the authorizeUpload hook, which may overrule it. The built-in check takes Bearer T
// or Basic with password T, where T is the global --upload-token (every stream) or the stream's own
// token (origin/upload-credentials.ts: that stream only); with neither configured, loopback peers only.
import type { Context } from 'hono';
import { peerAddress } from '../src/app.js';
import { HookFailed, type HookRunner } from '../src/hooks.js';
import type { Logger } from '../src/log.js';
import { checkUploadAuth } from '../src/upload-auth.js';
import { OriginError } from './errors.js';
import { ORIGIN_HOOKS, type OriginHooks } from './hooks.js';
import type { StreamTokens } from './upload-credentials.js';

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
