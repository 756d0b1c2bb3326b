// Upload credentials, as the origin and the upload fan-out check them (docs/contract.md): Bearer T or
// Basic with password T, against the tokens good for the stream; with none configured, loopback peers only.
import { timingSafeEqual } from 'node:crypto';

/** An upload's credentials: good, absent (401), or wrong or from a peer not allowed without a token (403). */
export type AuthResult = 'ok' | 'missing' | 'wrong';

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return a === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

/** The token an Authorization header presents (Bearer T, or Basic with password T), if any. */
function presentedToken(authorization: string): string | undefined {
  const [scheme, value = ''] = authorization.trim().split(/\s+/, 2);
  if (/^bearer$/i.test(scheme ?? '')) return value;
  if (/^basic$/i.test(scheme ?? '')) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon === -1 ? '' : decoded.slice(colon + 1);
  }
  return undefined;
}

/**
 * Checks an upload's credentials against `tokens`, the tokens good for its stream (undefined: no
 * credentials configured, loopback peers only; empty: configured, none for this stream); `remote` is
 * the peer address.
 */
export function checkUploadAuth(authorization: string | undefined, tokens: readonly string[] | undefined, remote: string | undefined): AuthResult {
  if (tokens === undefined) return isLoopback(remote) ? 'ok' : 'wrong';
  const presented = authorization ? presentedToken(authorization) : undefined;
  if (presented === undefined) return 'missing';
  // Every token is compared, so the time taken does not say which one matched.
  let ok = false;
  for (const token of tokens) ok = same(presented, token) || ok;
  return ok ? 'ok' : 'wrong';
}
