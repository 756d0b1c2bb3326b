// `cascade sign <stream> --ttl 4h [--scope CIDR] [--lb URL] [--player]`: prints a signed playback URL
// (src/playback-token.ts) through the LB, or the LB's player page playing it. The secret comes like the
// LB's and the edges' (CASCADE_PLAYBACK_SECRET, --playback-secret-file), so the one file signs and checks.
import { MIN_SECRET_LENGTH, PLAYBACK_OPTIONS } from '../src/access.js';
import { parseCommand, takePositionals, type Command } from '../src/command.js';
import { UsageError, type OptionsSpec } from '../src/options.js';
import { signPlayback } from '../src/playback-token.js';
import { checkRelativePath, isValidStreamName } from '../src/stream-path.js';
import { formatUrlToken } from '../src/url-token.js';

const SIGN_OPTIONS = {
  'playback-secret': PLAYBACK_OPTIONS['playback-secret'],
  ttl: { type: 'duration', default: 4 * 3_600_000, min: 1000, max: 366 * 24 * 3_600_000, help: 'how long the URL plays (e.g. 90m, 4h)' },
  scope: { type: 'string', help: 'the client network it plays from (CIDR, e.g. 203.0.113.0/24); any without it' },
  lb: { type: 'url', default: 'http://127.0.0.1:8080', help: "the LB's public base URL" },
  path: { type: 'string', default: 'index.m3u8', help: 'what the URL names inside the stream (the master, or a media playlist)' },
  player: { type: 'bool', default: false, help: "print the LB's player page playing the URL instead" },
} as const satisfies OptionsSpec;

export interface SignOptions {
  secret: string;
  stream: string;
  /** Milliseconds from `now`. */
  ttlMs: number;
  scope?: string | undefined;
  lb: string;
  path: string;
  player: boolean;
  /** Unix milliseconds. */
  now?: number;
}

/** The signed URL (or the player page for it); throws an Error for a bad scope. */
export function signedUrl(o: SignOptions): string {
  const token = formatUrlToken(signPlayback(o.secret, { stream: o.stream, expiresAt: ((o.now ?? Date.now()) + o.ttlMs) / 1000, ...(o.scope ? { scope: o.scope } : {}) }));
  const base = o.lb.replace(/\/+$/, '');
  const path = `/hls/${o.stream}/${token}/${o.path}`;
  return o.player ? `${base}/play/${o.stream}?src=${encodeURIComponent(path)}` : base + path;
}

export const signCommand: Command = {
  name: 'sign',
  summary: 'print a signed, expiring playback URL (the secret from CASCADE_PLAYBACK_SECRET or --playback-secret-file)',
  async run(argv) {
    const parsed = parseCommand(SIGN_OPTIONS, argv, {
      usage: 'cascade sign <stream> [--ttl 4h] [--scope CIDR] [--lb URL] [--player]',
      description: 'Prints a playback URL through the LB that LBs and edges started with the same --playback-secret accept until it expires.',
    });
    if (!parsed) return 0;
    const { options } = parsed;
    const [stream] = takePositionals(parsed.positionals, ['stream']);
    if (stream === undefined) throw new UsageError('missing <stream>');
    if (!isValidStreamName(stream)) throw new UsageError(`not a stream name: '${stream}'`);
    const secret = options['playback-secret'][0];
    if (secret === undefined) throw new UsageError('no secret: set CASCADE_PLAYBACK_SECRET or --playback-secret-file');
    if (secret.length < MIN_SECRET_LENGTH) throw new UsageError(`--playback-secret: at least ${MIN_SECRET_LENGTH} characters, as the LB and the edges require`);
    const badPath = checkRelativePath(options.path);
    if (badPath) throw new UsageError(`--path: ${badPath}`);
    let url: string;
    try {
      url = signedUrl({ secret, stream, ttlMs: options.ttl, scope: options.scope, lb: options.lb, path: options.path, player: options.player });
    } catch (err) {
      throw new UsageError(`--scope: ${(err as Error).message}`);
    }
    process.stdout.write(url + '\n');
    return 0;
  },
};
