// What the origin does when a stream publishes a playlist (a log line, `onPublished`, the `published`
// hook) and when one of its storage operations fails (counted; logged, except a failed upload, which its
// 507 answer logs once).
import type { HookRunner } from '../src/hooks.js';
import type { Logger } from '../src/log.js';
import type { OriginConfig } from './config.js';
import { ORIGIN_HOOKS, type OriginHooks } from './hooks.js';
import type { OriginMetrics } from './metrics.js';
import { storageErrorCode } from './storage.js';
import type { StreamEvents } from './stream-table.js';

export function streamEvents(hooks: HookRunner<OriginHooks>, stats: OriginMetrics, log: Logger, onPublished: OriginConfig['onPublished']): StreamEvents {
  return {
    published(stream, path, playlist) {
      log.debug('published', { stream, path, etag: playlist.etag });
      const { text, master } = playlist;
      onPublished?.({ stream, path, text, master });
      if (hooks.has('published')) {
        // A notification: its failure is logged and counted by the runner, the upload stands.
        hooks.call('published', { stream, path, text, master, log: log.child({ stream }) }, ORIGIN_HOOKS.published.valid).catch(() => undefined);
      }
    },
    storageFailed(stream, op, err) {
      const code = storageErrorCode(err);
      stats.storageErrors.inc({ op, code });
      if (op !== 'blob_write') log.error('storage_failed', { stream, op, code, err });
    },
  };
}
