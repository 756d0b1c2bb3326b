// Upload credentials, as the origin and the upload fan-out check them (docs/contract.md): with a token,
// Bearer T or Basic with password T; without one, loopback peers only.
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

/** Checks an upload's credentials against the configured token; `remote` is the peer address. */
export function checkUploadAuth(authorization: string | undefined, token: string | undefined, remote: string | undefined): AuthResult {
  if (token === undefined) return isLoopback(remote) ? 'ok' : 'wrong';
  if (!authorization) return 'missing';
  const [scheme, value = ''] = authorization.trim().split(/\s+/, 2);
  if (/^bearer$/i.test(scheme ?? '')) return same(value, token) ? 'ok' : 'wrong';
  if (/^basic$/i.test(scheme ?? '')) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon !== -1 && same(decoded.slice(colon + 1), token) ? 'ok' : 'wrong';
  }
  return 'missing';
}

