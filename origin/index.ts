// The origin role: takes uploads from transcoders, publishes rewritten playlists, serves everything.
// createOrigin wires configuration -> state (the stream table) -> phases (authorize, upload, deliver,
// stream events) -> the app; each phase is a module of its own.
import { randomBytes } from 'node:crypto';
import { createBaseApp } from '../src/app.js';
import { createHookRunner } from '../src/hooks.js';
import { silentLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import type { Role } from '../src/role.js';
import { isValidStreamName } from '../src/stream-path.js';
import { uploadAuthorizer } from './auth.js';
import { ORIGIN_DEFAULTS, type OriginConfig } from './config.js';
import { deliveryHandler } from './delivery.js';
import { originMetrics } from './metrics.js';
import { MemoryStorage } from './memory-storage.js';
import { peerFetch } from './peer-fill.js';
import { Recorder } from './recording.js';
import { recordingHandler } from './recording-delivery.js';
import { DiskStorage, type Storage } from './storage.js';
import type { OriginStream } from './stream.js';
import { recordingEvents, streamEvents } from './stream-events.js';
import { StreamTable } from './stream-table.js';
import { streamsApiRoutes } from './streams-api.js';
import { uploadHandlers } from './upload.js';
import { openStreamTokens } from './upload-credentials.js';
import { WaitingRoom } from './waiting-room.js';

export { ORIGIN_DEFAULTS, type OriginConfig, type PublishedEvent } from './config.js';
export type { OriginHooks, PublishedContext, UploadContext } from './hooks.js';

/** Uploads (PUT, POST), DELETE as ffmpeg's delete_segments sends it, reads, CORS preflights. */
const METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS'];

export interface Origin extends Role {
  /** Resolves once all state writes issued so far were tried. */
  flushed(): Promise<void>;
  /** Runs retention once, now (the timer runs it every `sweepIntervalMs`); resolves when the recordings' is done too. */
  sweep(): Promise<void>;
  /** With --record: every stream's recording. */
  recorder: Recorder | undefined;
  streams: ReadonlyMap<string, OriginStream>;
}

export async function createOrigin(options: Partial<OriginConfig> = {}): Promise<Origin> {
  const config: OriginConfig = { ...ORIGIN_DEFAULTS, ...options };
  const log = (config.log ?? silentLogger).child({ role: 'origin' });
  const metrics = config.metrics ?? new Metrics({ role: 'origin' });
  const now = config.now ?? Date.now;
  const hooks = createHookRunner('origin', config.hooks, { timeoutMs: config.hookTimeoutMs, log, metrics });

  // Requests held for low-latency playlists and parts, released by what the streams publish.
  const room = new WaitingRoom({ perStream: config.maxHeldRequestsPerStream, total: config.maxHeldRequests });
  // The gauges read the stream table when scraped, by which time it exists.
  const stats = originMetrics(metrics, { memoryBytes: () => streams.memoryBytes() + (inMemory?.bytes ?? 0), renditions: () => streams.renditions(), heldRequests: () => room.size });
  const storage: Storage | undefined = config.storage ?? (config.dataDir !== undefined ? new DiskStorage(config.dataDir) : undefined);
  const events = streamEvents(hooks, stats, log, config.onPublished, room);
  // --record: published segments are copied into recordings, in the origin's storage (or in memory).
  const inMemory = config.record && storage === undefined ? new MemoryStorage() : undefined;
  const recorder = config.record
    ? new Recorder(storage ?? inMemory!, {
      retentionMs: config.recordRetentionMs, reliveAfterMs: config.reliveAfterMs,
      ...(inMemory ? { memory: { bytes: () => inMemory.bytes, max: config.maxMemoryBytes } } : {}),
    }, now, recordingEvents(stats, log), log)
    : undefined;
  const streams = new StreamTable(
    {
      minWindow: config.minWindow, maxWindow: config.maxWindow, graceMs: config.segmentGraceMs, maxSegmentDuration: config.maxSegmentDurationMs / 1000,
      partTargetMs: config.partTargetMs,
    },
    storage,
    now,
    recorder === undefined ? events : {
      ...events,
      published(stream, path, playlist) {
        events.published(stream, path, playlist);
        const live = streams.get(stream);
        if (live !== undefined) recorder.published(live, path, playlist.master);
      },
    },
    config.peers.length > 0 ? '' : config.bootTag ?? randomBytes(4).toString('hex'),
    config.peers.length > 0
      ? peerFetch(config.peers, {
        timeoutMs: config.peerFillTimeoutMs, maxBytes: config.maxFileBytes, log, onResult: (result) => stats.peerFills.inc({ result }),
      })
      : undefined,
  );
  for (const stream of await streams.load()) log.info('stream_loaded', { stream });
  for (const stream of await recorder?.load(isValidStreamName, (name) => streams.get(name)) ?? []) log.info('recording_loaded', { stream });
  // A recordings' sweep still running (it waits for storage) is not started again.
  let recordSweep: Promise<void> | undefined;
  const sweep = async () => {
    streams.sweep(config.maxMemoryBytes);
    if (recorder === undefined) return;
    recordSweep ??= recorder.sweep().catch((err: unknown) => log.error('record_sweep_failed', { err })).finally(() => { recordSweep = undefined; });
    await recordSweep;
  };
  const sweepTimer = config.sweepIntervalMs > 0 ? setInterval(() => void sweep(), config.sweepIntervalMs) : undefined;
  sweepTimer?.unref();

  const streamTokens = config.uploadTokens && await openStreamTokens(config.uploadTokens, log, config.uploadTokensPollMs);
  const authorize = uploadAuthorizer(config.uploadToken, streamTokens, hooks, log);
  const { upload, remove } = uploadHandlers(config, streams, authorize, stats, log);
  const app = createBaseApp({
    metrics, log,
    allowMethods: METHODS,
    ...(config.use ? { use: config.use } : {}),
  });
  app.put('/hls/*', upload);
  app.post('/hls/*', upload);
  app.delete('/hls/*', remove);
  app.get('/hls/*', deliveryHandler(streams, stats, config.masterMaxAge, room, recorder && recordingHandler(recorder, stats, config.dvrWindowMs, config.masterMaxAge)));
  app.all('/hls/*', (c) => c.text('method not allowed\n', 405, { Allow: METHODS.join(', ') }));
  app.route('/api', streamsApiRoutes(streams));

  return {
    app,
    streams: streams.all,
    flushed: async () => {
      await streams.flushed();
      await recorder?.settled();
    },
    recorder,
    sweep,
    async close() {
      clearInterval(sweepTimer);
      streamTokens?.close();
      room.close();
      await streams.flushed();
      await recorder?.settled();
      storage?.close?.();
    },
  };
}
