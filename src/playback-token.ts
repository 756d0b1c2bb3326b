// Signed, expiring playback URLs: an HMAC-SHA256 over the stream, the expiry and an optional client
// network, carried in the URL token segment (src/url-token.ts) as fields e (expiry, Unix seconds),
// n (the network, `203.0.113.0_24`: '/' and ':' are no path characters, so they are written '_' and '-')
// and k (the first 128 bits of the HMAC, base64url). The LB and the edges check it; `cascade sign` makes it.
//
// Several secrets are accepted at once, so a secret can be rotated without a flag day: start every
// LB and edge with the new secret added, sign with it (the first), drop the old one when the URLs signed
// with it have expired. The signature covers the field values as written, so nothing is canonicalised
// between signer and checker, and it does not cover the session field (s), which the LB adds to a signed
// URL without breaking it.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { Networks, parseCidr } from './networks.js';
import { parseUrlToken, type UrlToken } from './url-token.js';

/** Why a playback request is refused: the `X-Cascade-Denied` value and the metric label. */
export type PlaybackDenial = 'missing' | 'malformed' | 'expired' | 'bad-signature' | 'scope';
export const PLAYBACK_DENIALS: readonly PlaybackDenial[] = ['missing', 'malformed', 'expired', 'bad-signature', 'scope'];

/** Truncated HMAC-SHA256 (RFC 2104 5: at least half the output, and 80 bits). */
const SIGNATURE_BYTES = 16;
const SIGNATURE_RE = /^[A-Za-z0-9_-]{22}$/;
const EXPIRY_RE = /^\d{1,12}$/;
/** Verdicts remembered per distinct (stream, token): each is an HMAC per secret saved on every later request. */
const MEMO_ENTRIES = 10_000;

/** A network in the URL alphabet and back: `2001:db8::/32` <-> `2001-db8--_32`. */
export const scopeToField = (cidr: string): string => cidr.replaceAll(':', '-').replace('/', '_');
export const scopeFromField = (field: string): string => field.replaceAll('-', ':').replace('_', '/');

function mac(secret: string, stream: string, expires: string, scope: string | undefined): Buffer {
  return createHmac('sha256', secret).update(`cascade-playback-v1\n${stream}\n${expires}\n${scope ?? ''}`).digest().subarray(0, SIGNATURE_BYTES);
}

export interface SignRequest {
  stream: string;
  /** Unix seconds. */
  expiresAt: number;
  /** The client network the URL is good for (CIDR), or any client. */
  scope?: string;
}

/** The token fields of a signed URL for `request`, signed with `secret`. Throws on a bad scope. */
export function signPlayback(secret: string, request: SignRequest): UrlToken {
  const e = String(Math.floor(request.expiresAt));
  if (!EXPIRY_RE.test(e)) throw new Error(`expiry out of range: ${request.expiresAt}`);
  let n: string | undefined;
  if (request.scope !== undefined) {
    if (!parseCidr(request.scope)) throw new Error(`bad network '${request.scope}'`);
    n = scopeToField(request.scope);
  }
  const k = mac(secret, request.stream, e, n).toString('base64url');
  return n === undefined ? { e, k } : { e, n, k };
}

/** What a signature proved about a token, remembered per token: the expiry and scope it vouches for. */
type Proven = { expiresAt: number; scope: Networks | undefined } | 'malformed' | 'bad-signature';

export class PlaybackVerifier {
  private readonly proven = new LRUCache<string, { v: Proven }>({ max: MEMO_ENTRIES });

  /** `secrets`: every secret accepted (at least one). `now`: Unix milliseconds. */
  constructor(private readonly secrets: readonly string[], private readonly now: () => number = Date.now) {
    if (secrets.length === 0) throw new Error('a playback verifier needs a secret');
  }

  /**
   * Why a request for `stream` with the token segment `segment` (undefined: none) from `client` is
   * refused, or undefined when the URL is signed for it and has not expired.
   */
  check(stream: string, segment: string | undefined, client: string): PlaybackDenial | undefined {
    if (segment === undefined) return 'missing';
    const token = parseUrlToken(segment);
    if (token === undefined) return 'malformed';
    if (token.e === undefined && token.k === undefined) return 'missing';
    const key = `${stream}/${token.e}/${token.n}/${token.k}`;
    let memo = this.proven.get(key);
    if (memo === undefined) {
      memo = { v: this.prove(stream, token) };
      this.proven.set(key, memo);
    }
    const proven = memo.v;
    if (typeof proven === 'string') return proven;
    if (proven.expiresAt <= this.now()) return 'expired';
    if (proven.scope && !proven.scope.has(client)) return 'scope';
    return undefined;
  }

  private prove(stream: string, { e, n, k }: UrlToken): Proven {
    if (e === undefined || k === undefined || !EXPIRY_RE.test(e) || !SIGNATURE_RE.test(k)) return 'malformed';
    let scope: Networks | undefined;
    if (n !== undefined) {
      if (!parseCidr(scopeFromField(n))) return 'malformed';
      scope = new Networks([scopeFromField(n)]);
    }
    // Compared as written, so a signature has one spelling (base64url's last character carries spare bits).
    const given = Buffer.from(k);
    const signed = this.secrets.some((secret) => timingSafeEqual(Buffer.from(mac(secret, stream, e, n).toString('base64url')), given));
    return signed ? { expiresAt: Number(e) * 1000, scope } : 'bad-signature';
  }
}
