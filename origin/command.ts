// `cascade origin`: parses options and starts the origin role. Every default is ORIGIN_DEFAULTS'.
import { readFileSync } from 'node:fs';
import { LISTEN_OPTIONS, loggerFor, parseOrigins, parseRoleCommand, tlsFilesOf, type Command } from '../src/command.js';
import { runRole } from '../src/role.js';
import { UsageError, type OptionsSpec } from '../src/options.js';
import { ORIGIN_DEFAULTS } from './config.js';
import { ORIGIN_HOOKS } from './hooks.js';
import { createOrigin } from './index.js';
import { parseStreamTokens, UPLOAD_TOKENS_KEY, type StreamTokensSource } from './upload-credentials.js';

const ORIGIN_OPTIONS = {
  port: { type: 'int', default: 8090, min: 0, max: 65535, help: 'port to listen on' },
  ...LISTEN_OPTIONS,
  'data-dir': { type: 'string', help: 'directory where content and rewrite state survive restarts (memory only without it)' },
  storage: {
    type: 'string',
    help: 's3://bucket/prefix: content and rewrite state on S3 instead (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), so another origin can take over',
  },
  'upload-token': { type: 'string', secret: true, help: 'uploads need Bearer <token> or Basic with this password (without it: loopback only)' },
  'upload-tokens': { type: 'string', help: "per-stream upload tokens, lines '<stream> <token>', each good for its stream only (re-read on change and SIGHUP)" },
  'upload-tokens-redis': { type: 'url', secret: true, help: `per-stream upload tokens from the Redis hash ${UPLOAD_TOKENS_KEY} (stream -> token), re-read every second and on SIGHUP` },
  'peer-fill-timeout': { type: 'duration', default: ORIGIN_DEFAULTS.peerFillTimeoutMs, min: 0, help: 'how long a segment that never arrived is asked of the peers before it becomes a gap' },
  peer: { type: 'string', repeat: true, help: 'base URL of an origin fed the same uploads (cascade fanout): both publish the same names, and a segment this one lacks is fetched from it' },
  'max-playlist-size': { type: 'bytes', default: ORIGIN_DEFAULTS.maxPlaylistBytes, help: 'largest accepted playlist upload' },
  'max-file-size': { type: 'bytes', default: ORIGIN_DEFAULTS.maxFileBytes, help: 'largest accepted segment/file upload' },
  'upload-idle-timeout': { type: 'duration', default: ORIGIN_DEFAULTS.uploadIdleTimeoutMs, help: 'abort an upload that sends nothing for this long' },
  'min-window': { type: 'int', default: ORIGIN_DEFAULTS.minWindow, min: 1, help: 'fewest segments in a published playlist' },
  'max-window': { type: 'int', default: ORIGIN_DEFAULTS.maxWindow, min: 1, help: 'most segments in a published playlist' },
  'segment-grace': { type: 'duration', default: ORIGIN_DEFAULTS.segmentGraceMs, help: 'how long a segment stays servable after leaving the window' },
  'max-segment-duration': {
    type: 'duration', default: ORIGIN_DEFAULTS.maxSegmentDurationMs, min: 1000,
    help: 'refuse playlists with a longer EXTINF or EXT-X-TARGETDURATION (the target duration never decreases)',
  },
  'max-memory': { type: 'bytes', default: ORIGIN_DEFAULTS.maxMemoryBytes, help: 'uploaded bytes kept in memory (never evicts what a playlist names)' },
  'part-target': {
    type: 'duration', default: ORIGIN_DEFAULTS.partTargetMs, min: 0, max: 10_000,
    help: 'LL-HLS: cut parts of at most this long from hinted fMP4 uploads, at least the transcoder\'s --part-target (0: no parts)',
  },
  record: { type: 'bool', default: ORIGIN_DEFAULTS.record, help: 'keep every published segment in a recording: DVR, time-shift clips and relive under /hls/<stream>/_dvr/ and _relive/ (docs/relive.md)' },
  'record-retention': { type: 'duration', default: ORIGIN_DEFAULTS.recordRetentionMs, min: 1000, help: 'with --record: how long a recorded segment is kept (e.g. 48h, 7d)' },
  'dvr-window': { type: 'duration', default: ORIGIN_DEFAULTS.dvrWindowMs, min: 0, help: 'with --record: length of the DVR playlist (0: the whole recording, EXT-X-PLAYLIST-TYPE:EVENT)' },
  'relive-after': { type: 'duration', default: ORIGIN_DEFAULTS.reliveAfterMs, min: 1000, help: 'with --record: a stream with no new segment for this long has ended (its relive turns VOD); so does EXT-X-ENDLIST' },
} as const satisfies OptionsSpec;

function uploadTokensFrom(file: string | undefined, redis: string | undefined): { uploadTokens?: StreamTokensSource } {
  if (file !== undefined && redis !== undefined) throw new UsageError('--upload-tokens and --upload-tokens-redis: one source of per-stream tokens');
  if (file !== undefined) {
    // Checked here so that a bad file is a usage error (exit 2) naming the line, not a crash.
    try { parseStreamTokens(readFileSync(file, 'utf8')); } catch (err) { throw new UsageError(`--upload-tokens: ${(err as Error).message}`); }
    return { uploadTokens: { file } };
  }
  return redis !== undefined ? { uploadTokens: { redis } } : {};
}

export const originCommand: Command = {
  name: 'origin',
  summary: 'take HLS uploads (PUT) from transcoders and publish restart-proof playlists',
  async run(argv) {
    const parsed = await parseRoleCommand('origin', ORIGIN_OPTIONS, argv, {
      usage: 'cascade origin [--port 8090] [--data-dir DIR | --storage s3://bucket/prefix] [--upload-token T]',
      description: 'Takes HTTP PUT uploads of segments and playlists under /hls/<stream>/<path> and serves the published stream.',
    }, ORIGIN_HOOKS);
    if (!parsed) return 0;
    const options = parsed.options;
    if (options['min-window'] > options['max-window']) throw new UsageError('--min-window must not exceed --max-window');
    if (options.storage !== undefined && options['data-dir'] !== undefined) throw new UsageError('--storage and --data-dir are two places for the same content: give one');
    // The S3 client is loaded only when asked for: every role runs from this CLI, and it is most of an idle process's memory.
    const storage = options.storage !== undefined ? (await import('./s3-storage.js')).S3Storage.fromUrl(options.storage) : undefined;
    const partTarget = options['part-target'];
    if (partTarget > 0 && partTarget < 100) throw new UsageError(`--part-target: 0 (no parts) or at least 100ms (got ${partTarget}ms)`);
    const log = loggerFor(options['log-level'], { role: 'origin' });
    const tls = tlsFilesOf(options);
    const origin = await createOrigin({
      ...(options['data-dir'] !== undefined ? { dataDir: options['data-dir'] } : {}),
      ...(storage !== undefined ? { storage } : {}),
      ...(options['upload-token'] !== undefined ? { uploadToken: options['upload-token'] } : {}),
      ...uploadTokensFrom(options['upload-tokens'], options['upload-tokens-redis']),
      peers: parseOrigins(options.peer, 'peer'),
      peerFillTimeoutMs: options['peer-fill-timeout'],
      maxPlaylistBytes: options['max-playlist-size'],
      maxFileBytes: options['max-file-size'],
      uploadIdleTimeoutMs: options['upload-idle-timeout'],
      minWindow: options['min-window'],
      maxWindow: options['max-window'],
      segmentGraceMs: options['segment-grace'],
      maxSegmentDurationMs: options['max-segment-duration'],
      maxMemoryBytes: options['max-memory'],
      partTargetMs: partTarget,
      record: options.record,
      recordRetentionMs: options['record-retention'],
      dvrWindowMs: options['dvr-window'],
      reliveAfterMs: options['relive-after'],
      hooks: parsed.hooks,
      use: parsed.use,
      hookTimeoutMs: options['hook-timeout'],
      log,
    });
    await runRole(origin, { port: options.port, host: options.host, log, name: 'origin', tls });
  },
};
