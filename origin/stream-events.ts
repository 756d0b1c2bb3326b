// What the origin does when a stream publishes a playlist (a log line, `onPublished`, the `published`
// hook, held requests it may satisfy), when the parts cut from an upload change (held requests for a
// hinted part) or cannot be cut cleanly (a log line), and when one of its storage operations fails
// (counted; logged, except a failed upload, which its 507 answer logs once); and what a recording reports.
import type { HookRunner } from '../src/hooks.js';
import type { Logger } from '../src/log.js';
import type { OriginConfig } from './config.js';
import { ORIGIN_HOOKS, type OriginHooks } from './hooks.js';
import type { OriginMetrics } from './metrics.js';
import { storageErrorCode } from './storage.js';
import type { RecordingEvents } from './recording.js';
import type { StreamEvents } from './stream-table.js';
import type { WaitingRoom } from './waiting-room.js';

export function streamEvents(hooks: HookRunner<OriginHooks>, stats: OriginMetrics, log: Logger, onPublished: OriginConfig['onPublished'], room: WaitingRoom): StreamEvents {
  return {
    published(stream, path, playlist) {
      log.debug('published', { stream, path, etag: playlist.etag });
      room.notify(stream, path);
      const { text, master } = playlist;
      onPublished?.({ stream, path, text, master });
      if (hooks.has('published')) {
        // A notification: its failure is logged and counted by the runner, the upload stands.
        hooks.call('published', { stream, path, text, master, log: log.child({ stream }) }, ORIGIN_HOOKS.published.valid).catch(() => undefined);
      }
    },
    partsChanged(stream, upload) {
      room.notify(stream, `upload:${upload}`);
    },
    partsProblem(stream, path, problem) {
      const { kind, ...detail } = problem;
      log.warn('parts_problem', { stream, path, problem: kind, ...('error' in detail ? { code: detail.error.code, msg: detail.error.message } : detail) });
    },
    storageFailed(stream, op, err) {
      const code = storageErrorCode(err);
      stats.storageErrors.inc({ op, code });
      if (op !== 'blob_write') log.error('storage_failed', { stream, op, code, err });
    },
  };
}

/** What the origin does when a recording ends its stream (relive), leaves a segment out, or fails to write. */
export function recordingEvents(stats: OriginMetrics, log: Logger): RecordingEvents {
  return {
    ended(stream, why) {
      log.info('relive_published', { stream, why });
    },
    dropped(stream, rendition, reason) {
      stats.recordDropped.inc({ reason });
      log.warn('record_dropped', { stream, rendition, reason });
    },
    storageFailed(stream, err) {
      const code = storageErrorCode(err);
      stats.storageErrors.inc({ op: 'record_write', code });
      log.error('storage_failed', { stream, op: 'record_write', code, err });
    },
  };
}
