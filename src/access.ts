// Playback access at the LB and the edges, one mechanism for both: signed URLs (src/playback-token.ts),
// per-client rate limits (src/rate-limit.ts) and sessions (src/session-token.ts), all read from the URL
// token segment (src/url-token.ts). A refusal is never a 5xx and never cached: 403 with the reason in
// `X-Cascade-Denied`, or 429 with `Retry-After`, counted in `cascade_access_denied_total{reason}`.
import type { Metrics } from './metrics.js';
import { Networks } from './networks.js';
import { UsageError, type OptionsSpec } from './options.js';
import { PlaybackVerifier, type PlaybackDenial } from './playback-token.js';
import { parseRate, RateLimiter, type Rate } from './rate-limit.js';
import { sessionId } from './session-token.js';
import { parseUrlToken } from './url-token.js';

/** Why a request was refused: a signed URL's reason, or `rate` (429). */
export type AccessDenial = PlaybackDenial | 'rate';

export const DENIED_HEADER = 'X-Cascade-Denied';

export const MIN_SECRET_LENGTH = 16;

export interface Denied {
  reason: AccessDenial;
  /** Seconds, for a 429. */
  retryAfter?: number;
}

/** The options both the LB and the edges take; each adds its own rate option. */
export const PLAYBACK_OPTIONS = {
  'playback-secret': {
    type: 'string', secret: true, repeat: true,
    help: 'HMAC secret of signed playback URLs: without a valid one, /hls/ requests get 403 (several for rotation; the first signs)',
  },
  'rate-allow': { type: 'string', repeat: true, help: 'client networks (CIDR) the rate limit never applies to' },
} as const satisfies OptionsSpec;

export interface AccessConfig {
  /** Signed URLs are required when set (every secret is accepted; the first signs sessions). */
  playbackSecrets?: readonly string[];
  /** Per-client limit (the LB: new sessions; the edge: requests). */
  rate?: Rate;
  /** CIDRs the limit never applies to. */
  rateAllow?: readonly string[];
  /** Clients tracked by the limiter at once. */
  rateClients?: number;
}

/** The access settings from a role's parsed options: PLAYBACK_OPTIONS plus its rate option. Throws UsageError. */
export function accessConfigFrom(options: { 'playback-secret': string[]; 'rate-allow': string[] } & Record<string, unknown>, rateOption: string, defaultWindowMs: number): AccessConfig {
  const rateText = options[rateOption] as string | undefined;
  let rate: Rate | undefined;
  if (rateText !== undefined) {
    try { rate = parseRate(rateText, defaultWindowMs); } catch (err) { throw new UsageError(`--${rateOption}: ${(err as Error).message}`); }
  }
  try {
    new Networks(options['rate-allow']);
  } catch (err) {
    throw new UsageError(`--rate-allow: ${(err as Error).message}`);
  }
  if (options['rate-allow'].length > 0 && rate === undefined) throw new UsageError(`--rate-allow needs --${rateOption}`);
  // Anyone can try secrets offline against a signed URL they hold: a short one would be guessed.
  if (options['playback-secret'].some((s) => s.length < MIN_SECRET_LENGTH)) throw new UsageError(`--playback-secret: at least ${MIN_SECRET_LENGTH} characters (openssl rand -hex 16)`);
  return { playbackSecrets: options['playback-secret'], ...(rate ? { rate } : {}), rateAllow: options['rate-allow'] };
}

export interface AccessOptions {
  metrics: Metrics;
  /** Milliseconds. */
  now?: () => number;
}

export class PlaybackAccess {
  private readonly verifier: PlaybackVerifier | undefined;
  private readonly limiter: RateLimiter | undefined;
  private readonly secrets: readonly string[];
  private readonly counted: (reason: AccessDenial) => void;

  /** Throws an Error for a bad network in `rateAllow`. */
  constructor(config: AccessConfig, { metrics, now = Date.now }: AccessOptions) {
    this.secrets = config.playbackSecrets ?? [];
    this.verifier = this.secrets.length > 0 ? new PlaybackVerifier(this.secrets, now) : undefined;
    const allow = config.rateAllow?.length ? new Networks(config.rateAllow) : undefined;
    this.limiter = config.rate && new RateLimiter(config.rate, { allow, now, ...(config.rateClients ? { maxClients: config.rateClients } : {}) });
    const denied = metrics.counter('access_denied_total', 'Requests refused by access control: 403 by reason, 429 as rate', ['reason']);
    this.counted = (reason) => denied.inc({ reason });
    const limiter = this.limiter;
    if (limiter) metrics.gauge('rate_limit_clients', 'Clients the rate limiter tracks (a fixed-size table)', [], function () { this.set(limiter.size); });
  }

  /** Whether signed URLs are required. */
  get signed(): boolean {
    return this.verifier !== undefined;
  }

  get limited(): boolean {
    return this.limiter !== undefined;
  }

  /** The session secrets: sessions are signed with the playback secrets when there are any. */
  get sessionSecrets(): readonly string[] {
    return this.secrets;
  }

  /** Counts one request of `client` against the rate limit; a refusal is counted. */
  rate(client: string): Denied | undefined {
    const retryAfter = this.limiter?.take(client);
    return retryAfter === undefined ? undefined : this.deny({ reason: 'rate', retryAfter });
  }

  /** Checks the signed URL of a request for `stream` with token segment `token`; a refusal is counted. */
  playback(stream: string, token: string | undefined, client: string): Denied | undefined {
    const reason = this.verifier?.check(stream, token, client);
    return reason === undefined ? undefined : this.deny({ reason });
  }

  /** The session id a token segment carries, when it is one of ours. */
  session(token: string | undefined): string | undefined {
    return token === undefined ? undefined : sessionId(parseUrlToken(token)?.s, this.secrets);
  }

  private deny(d: Denied): Denied {
    this.counted(d.reason);
    return d;
  }
}

/** Status, headers and body of a refusal, the same from every role (CORS is added by the role's app). */
export function deniedAnswer(d: Denied): { status: 403 | 429; headers: Record<string, string>; body: string } {
  const headers: Record<string, string> = { [DENIED_HEADER]: d.reason, 'Cache-Control': 'no-store', 'Content-Type': 'text/plain; charset=UTF-8' };
  if (d.reason !== 'rate') return { status: 403, headers, body: `forbidden: ${d.reason}\n` };
  headers['Retry-After'] = String(d.retryAfter ?? 1);
  return { status: 429, headers, body: 'too many requests\n' };
}
