// `cascade origin`: parses options and starts the origin role.
import { LISTEN_OPTIONS, loggerFor, parseRoleCommand, type Command } from '../src/command.js';
import { runRole } from '../src/role.js';
import { UsageError, type OptionsSpec } from '../src/options.js';
import { ORIGIN_HOOKS } from './hooks.js';
import { createOrigin, ORIGIN_DEFAULTS } from './index.js';

const spec = {
  port: { type: 'int', default: 8090, min: 0, max: 65535, help: 'port to listen on' },
  ...LISTEN_OPTIONS,
  'data-dir': { type: 'string', help: 'directory where content and rewrite state survive restarts (memory only without it)' },
  'upload-token': { type: 'string', help: 'uploads need Bearer <token> or Basic with this password (without it: loopback only)' },
  'max-playlist-size': { type: 'bytes', default: '1m', help: 'largest accepted playlist upload' },
  'max-file-size': { type: 'bytes', default: '64m', help: 'largest accepted segment/file upload' },
  'upload-idle-timeout': { type: 'duration', default: '10s', help: 'abort an upload that sends nothing for this long' },
  'min-window': { type: 'int', default: ORIGIN_DEFAULTS.minWindow, min: 1, help: 'fewest segments in a published playlist' },
  'max-window': { type: 'int', default: ORIGIN_DEFAULTS.maxWindow, min: 1, help: 'most segments in a published playlist' },
  'segment-grace': { type: 'duration', default: '30s', help: 'how long a segment stays servable after leaving the window' },
  'max-segment-duration': {
    type: 'duration', default: `${ORIGIN_DEFAULTS.maxSegmentDurationMs / 1000}s`, min: 1000,
    help: 'refuse playlists with a longer EXTINF or EXT-X-TARGETDURATION (the target duration never decreases)',
  },
  'max-memory': { type: 'bytes', default: '1g', help: 'uploaded bytes kept in memory (never evicts what a playlist names)' },
} as const satisfies OptionsSpec;

export const originCommand: Command = {
  name: 'origin',
  summary: 'take HLS uploads (PUT) from transcoders and publish restart-proof playlists',
  async run(argv) {
    const parsed = await parseRoleCommand('origin', spec, argv, {
      usage: 'cascade origin [--port 8090] [--data-dir DIR] [--upload-token T]',
      description: 'Takes HTTP PUT uploads of segments and playlists under /hls/<stream>/<path> and serves the published stream.',
    }, ORIGIN_HOOKS);
    if (!parsed) return 0;
    const o = parsed.options;
    if (o['min-window'] > o['max-window']) throw new UsageError('--min-window must not exceed --max-window');
    const log = loggerFor(o['log-level'], { role: 'origin' });
    const origin = await createOrigin({
      ...(o['data-dir'] !== undefined ? { dataDir: o['data-dir'] } : {}),
      ...(o['upload-token'] !== undefined ? { uploadToken: o['upload-token'] } : {}),
      maxPlaylistBytes: o['max-playlist-size'],
      maxFileBytes: o['max-file-size'],
      uploadIdleTimeoutMs: o['upload-idle-timeout'],
      minWindow: o['min-window'],
      maxWindow: o['max-window'],
      segmentGraceMs: o['segment-grace'],
      maxSegmentDurationMs: o['max-segment-duration'],
      maxMemoryBytes: o['max-memory'],
      hooks: parsed.hooks,
      use: parsed.use,
      hookTimeoutMs: o['hook-timeout'],
      log,
    });
    await runRole(origin, { port: o.port, host: o.host, log, name: 'origin' });
  },
};
