// Per-stream upload credentials: stream -> token, beside the global --upload-token. A stream's token
// uploads to that stream only; the global one to every stream. Two sources, both reloaded while the
// origin runs, both keeping the last good table when a reload fails (an operator's typo or a Redis
// outage must not lock every transcoder out):
//   - a file (`--upload-tokens FILE`, lines `<stream> <token>`, `#` comments), re-read when it changes
//     (polled: editors and config managers replace files by rename, which inotify watches lose) and on SIGHUP;
//   - a Redis hash (`--upload-tokens-redis URL`, key `cascade:upload-tokens`, field stream, value token),
//     re-read every few seconds and on SIGHUP.
import { readFile, stat } from 'node:fs/promises';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { Redis } from 'ioredis';
import { connectRedis } from '../src/control-plane.js';
import type { Logger } from '../src/log.js';
import { isValidStreamName } from '../src/stream-path.js';

export const UPLOAD_TOKENS_KEY = 'cascade:upload-tokens';
/** A per-stream token is a credential like the global one: long enough not to be guessed. */
export const MIN_STREAM_TOKEN_LENGTH = 16;
/** Streams in one table: the file and the hash are read whole. */
export const MAX_STREAM_TOKENS = 100_000;
const TOKEN_RE = /^[\x21-\x7e]+$/;
/** How long an origin starting with --upload-tokens-redis waits for Redis before it serves. */
const REDIS_START_WAIT_MS = 2000;

export interface StreamTokens {
  /** The token of `stream`, if it has one. */
  get(stream: string): string | undefined;
  /** Reads the source again now (also done on change, on a timer, on SIGHUP). */
  reload(): Promise<void>;
  readonly size: number;
  close(): void;
}

/** Why a (stream, token) pair cannot be used, or undefined. */
function pairProblem(stream: string, token: string): string | undefined {
  if (!isValidStreamName(stream)) return `'${stream}' is not a stream name`;
  if (!TOKEN_RE.test(token)) return `the token of '${stream}' has spaces or control characters`;
  if (token.length < MIN_STREAM_TOKEN_LENGTH) return `the token of '${stream}' is shorter than ${MIN_STREAM_TOKEN_LENGTH} characters`;
  return undefined;
}

/** The table a tokens file describes; throws an Error naming the first bad line (never its token). */
export function parseStreamTokens(text: string): Map<string, string> {
  const table = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [stream = '', token = '', extra] = line.split(/\s+/);
    if (token === '' || extra !== undefined) throw new Error(`line ${i + 1}: expected '<stream> <token>'`);
    const problem = pairProblem(stream, token);
    if (problem) throw new Error(`line ${i + 1}: ${problem}`);
    if (table.has(stream)) throw new Error(`line ${i + 1}: '${stream}' given twice`);
    if (table.size >= MAX_STREAM_TOKENS) throw new Error(`more than ${MAX_STREAM_TOKENS} streams`);
    table.set(stream, token);
  });
  return table;
}

abstract class ReloadedTable implements StreamTokens {
  protected table = new Map<string, string>();
  /** The last failure said, so a source that stays broken is logged once, not on every poll. */
  private failure: string | undefined;
  private readonly onHangup = () => void this.reload();

  constructor(protected readonly log: Logger, protected readonly source: string) {
    process.on('SIGHUP', this.onHangup);
  }

  get(stream: string): string | undefined {
    return this.table.get(stream);
  }

  get size(): number {
    return this.table.size;
  }

  /** Reads the table; throws an Error saying what is wrong with it. */
  protected abstract read(): Promise<Map<string, string>>;

  async reload(): Promise<void> {
    try {
      const next = await this.read();
      const changed = next.size !== this.table.size || [...next].some(([s, t]) => this.table.get(s) !== t);
      this.table = next;
      this.failure = undefined;
      if (changed) this.log.info('upload_tokens_loaded', { source: this.source, streams: next.size });
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.failure) this.log.warn('upload_tokens_reload_failed', { source: this.source, err: message, kept: this.table.size });
      this.failure = message;
    }
  }

  close(): void {
    process.off('SIGHUP', this.onHangup);
  }
}

class FileTokens extends ReloadedTable {
  constructor(private readonly file: string, log: Logger, pollMs: number) {
    super(log, file);
    // Read now, so that a bad file stops the origin at start instead of locking transcoders out.
    this.table = parseStreamTokens(readFileSync(file, 'utf8'));
    log.info('upload_tokens_loaded', { source: file, streams: this.table.size });
    watchFile(file, { interval: pollMs, persistent: false }, (now, before) => {
      if (now.mtimeMs !== before.mtimeMs || now.size !== before.size || now.ino !== before.ino) void this.reload();
    });
  }

  protected async read(): Promise<Map<string, string>> {
    if ((await stat(this.file)).size > 64 * 1024 * 1024) throw new Error('larger than 64 MiB');
    return parseStreamTokens(await readFile(this.file, 'utf8'));
  }

  override close(): void {
    super.close();
    unwatchFile(this.file);
  }
}

class RedisTokens extends ReloadedTable {
  private readonly redis: Redis;
  private readonly timer: NodeJS.Timeout;

  constructor(url: string, private readonly key: string, log: Logger, pollMs: number) {
    super(log, `redis hash ${key}`);
    this.redis = connectRedis(url, log);
    this.timer = setInterval(() => void this.reload(), pollMs);
    this.timer.unref();
  }

  /** Resolves once Redis answers, or after `ms` (the poll fills the table later). */
  async ready(ms: number): Promise<void> {
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.redis.once('ready', () => { clearTimeout(timer); resolve(); });
    });
  }

  protected async read(): Promise<Map<string, string>> {
    const length = await this.redis.hlen(this.key);
    if (length > MAX_STREAM_TOKENS) throw new Error(`more than ${MAX_STREAM_TOKENS} streams`);
    const table = new Map<string, string>();
    // One bad field is skipped (and said), unlike a file: nobody reviews a hash as a whole before it is live.
    for (const [stream, token] of Object.entries(await this.redis.hgetall(this.key))) {
      const problem = pairProblem(stream, token);
      if (problem) this.log.warn('upload_token_skipped', { source: this.source, reason: problem });
      else table.set(stream, token);
    }
    return table;
  }

  override close(): void {
    super.close();
    clearInterval(this.timer);
    this.redis.disconnect();
  }
}

export type StreamTokensSource = { file: string } | { redis: string; key?: string };

/**
 * The per-stream tokens of `source`, loaded: a file that cannot be read or parsed throws (the origin
 * does not start); Redis that cannot be reached starts empty and fills when it answers.
 */
export async function openStreamTokens(source: StreamTokensSource, log: Logger, pollMs = 1000): Promise<StreamTokens> {
  if ('file' in source) return new FileTokens(source.file, log, pollMs);
  const tokens = new RedisTokens(source.redis, source.key ?? UPLOAD_TOKENS_KEY, log, pollMs);
  await tokens.ready(REDIS_START_WAIT_MS);
  await tokens.reload();
  return tokens;
}
