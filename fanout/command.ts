// `cascade fanout`: parses options and starts the upload fan-out. Every default is FANOUT_DEFAULTS'.
import { LISTEN_OPTIONS, loggerFor, parseCommand, parseOrigins, type Command } from '../src/command.js';
import { FEED_ID } from '../src/feed.js';
import { UsageError, type OptionsSpec } from '../src/options.js';
import { runRole } from '../src/role.js';
import { FANOUT_DEFAULTS } from './config.js';
import { createFanout } from './index.js';

const FANOUT_OPTIONS = {
  origin: { type: 'string', repeat: true, help: 'origin base URL(s) to feed, comma-separated or repeated (required)' },
  port: { type: 'int', default: 8089, min: 0, max: 65535, help: 'port to listen on' },
  // No --config or hooks: the fan-out has none.
  host: LISTEN_OPTIONS.host,
  'log-level': LISTEN_OPTIONS['log-level'],
  'upload-token': { type: 'string', secret: true, help: 'uploads need Bearer <token> or Basic with this password (without it: loopback only)' },
  'origin-token': { type: 'string', secret: true, help: 'sent to the origins as Bearer <token> (without it: the uploader\'s Authorization is passed on)' },
  'feed-id': { type: 'string', help: 'sent with every upload as Cascade-Feed; the origins root their names in it (default: random per process)' },
  'segment-retry': { type: 'duration', default: FANOUT_DEFAULTS.segmentRetryMs, min: 0, help: 'retry a failed segment upload for this long after it ended (about a segment duration)' },
  'playlist-retry': { type: 'duration', default: FANOUT_DEFAULTS.playlistRetryMs, min: 0, help: 'retry a failed playlist upload until a newer one comes, at most this long' },
  'max-lag': { type: 'bytes', default: FANOUT_DEFAULTS.maxLagBytes, min: 1, help: 'an origin this far behind the fastest origin loses that upload (it stalls)' },
  'max-queued': { type: 'int', default: FANOUT_DEFAULTS.maxQueuedPerOrigin, min: 1, help: 'uploads per origin being sent or waiting for a retry' },
  'max-file-size': { type: 'bytes', default: FANOUT_DEFAULTS.maxFileBytes, help: 'largest accepted segment/file upload' },
  'max-playlist-size': { type: 'bytes', default: FANOUT_DEFAULTS.maxPlaylistBytes, help: 'largest accepted playlist upload' },
  'upload-idle-timeout': { type: 'duration', default: FANOUT_DEFAULTS.uploadIdleTimeoutMs, min: 1, help: 'abort an upload that sends nothing for this long' },
  'origin-timeout': { type: 'duration', default: FANOUT_DEFAULTS.originTimeoutMs, min: 1, help: 'one try at an origin: headers and body idle timeout' },
  'answer-timeout': { type: 'duration', default: FANOUT_DEFAULTS.answerTimeoutMs, min: 1, help: 'answer the uploader 202 (queued) when no origin took the upload by then' },
} as const satisfies OptionsSpec;

export const fanoutCommand: Command = {
  name: 'fanout',
  summary: 'take the transcoder\'s uploads and forward each to every origin (redundant origins)',
  async run(argv) {
    const parsed = parseCommand(FANOUT_OPTIONS, argv, {
      usage: 'cascade fanout --origin URL --origin URL [--port 8089] [--upload-token T] [--origin-token T]',
      description: 'Takes PUT/POST/DELETE uploads under /hls/<stream>/<path>, like an origin, and forwards each to every origin with retries.',
    });
    if (!parsed) return 0;
    const { options } = parsed;
    const origins = parseOrigins(options.origin);
    if (origins.length === 0) throw new UsageError('--origin is required (e.g. --origin http://127.0.0.1:8090)');
    const feedId = options['feed-id'];
    if (feedId !== undefined && !FEED_ID.test(feedId)) throw new UsageError(`--feed-id: must match ${FEED_ID.source} (got '${feedId}')`);
    const log = loggerFor(options['log-level'], { role: 'fanout' });
    const fanout = createFanout({
      origins,
      ...(options['upload-token'] !== undefined ? { uploadToken: options['upload-token'] } : {}),
      ...(options['origin-token'] !== undefined ? { originToken: options['origin-token'] } : {}),
      ...(feedId !== undefined ? { feedId } : {}),
      segmentRetryMs: options['segment-retry'],
      playlistRetryMs: options['playlist-retry'],
      maxLagBytes: options['max-lag'],
      maxQueuedPerOrigin: options['max-queued'],
      maxFileBytes: options['max-file-size'],
      maxPlaylistBytes: options['max-playlist-size'],
      uploadIdleTimeoutMs: options['upload-idle-timeout'],
      originTimeoutMs: options['origin-timeout'],
      answerTimeoutMs: options['answer-timeout'],
      log,
    });
    await runRole(fanout, { port: options.port, host: options.host, log, name: 'fanout' });
  },
};
