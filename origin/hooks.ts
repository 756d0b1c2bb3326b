// The origin's hooks (docs/hooks.md), each declared once: its context, what it may return and what applies
// without it. The phases that call them: upload authorization (origin/auth.ts) and publication
// (origin/stream-events.ts).
import type { Awaitable, BaseContext, HookSpecs } from '../src/hooks.js';
import type { Logger } from '../src/log.js';

export interface UploadContext extends BaseContext {
  stream: string;
  path: string;
  /** Peer address of the uploader. */
  remoteAddress: string | undefined;
  /** What the built-in check (--upload-token / loopback) decided. */
  defaultDecision: 'ok' | 'missing' | 'wrong';
}

export interface PublishedContext {
  stream: string;
  path: string;
  /** The published playlist text. */
  text: string;
  master: boolean;
  log: Logger;
}

export interface OriginHooks {
  /** true allows, false refuses (403), undefined keeps the built-in decision. */
  authorizeUpload?(ctx: UploadContext): Awaitable<boolean | undefined>;
  /** Notified with each newly published playlist; its failures are logged, never fail the upload. */
  published?(ctx: PublishedContext): Awaitable<void>;
}

export const ORIGIN_HOOKS: HookSpecs<OriginHooks> = {
  /** Without it, or when it returns undefined: the built-in check (`--upload-token`, else loopback only). */
  authorizeUpload: { valid: (value) => value === undefined || typeof value === 'boolean' },
  /** A notification: what it returns is ignored, and without it nothing is notified. */
  published: { valid: () => true },
};
