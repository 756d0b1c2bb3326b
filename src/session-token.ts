// Sessions for viewer counts that are right behind NAT: the LB gives each new player a session id in
// the URL token (field s, src/url-token.ts), the player carries it on every request (it is in the path
// every relative URI resolves against), and the edge counts viewers by it instead of by address.
// No cookies: they broke servers behind CDNs (MediaMTX #5700), and players do not all keep them.
//
// With a secret (the playback secrets, which LB and edges share) the id carries a MAC, so a client
// cannot make up sessions to inflate a count: it gets new ones only through the LB, whose session rate
// limit bounds them. Without one, ids are taken as they come (the count is only as honest as the clients).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const ID_BYTES = 12;
const MAC_BYTES = 8;
const SESSION_RE = /^([A-Za-z0-9_-]{16})(?:\.([A-Za-z0-9_-]{11}))?$/;

function mac(secret: string, id: string): string {
  return createHmac('sha256', secret).update(`cascade-session-v1\n${id}`).digest().subarray(0, MAC_BYTES).toString('base64url');
}

/** A new session field value: a random id, with its MAC when there is a secret (the first signs). */
export function newSession(secrets: readonly string[]): string {
  const id = randomBytes(ID_BYTES).toString('base64url');
  return secrets.length > 0 ? `${id}.${mac(secrets[0]!, id)}` : id;
}

/** The session id in a session field value, or undefined when it is no session this deployment issued. */
export function sessionId(value: string | undefined, secrets: readonly string[]): string | undefined {
  if (value === undefined) return undefined;
  const m = SESSION_RE.exec(value);
  if (!m) return undefined;
  const [, id, given] = m as unknown as [string, string, string | undefined];
  if (secrets.length === 0) return id;
  if (given === undefined) return undefined;
  const signed = secrets.some((secret) => timingSafeEqual(Buffer.from(mac(secret, id)), Buffer.from(given)));
  return signed ? id : undefined;
}
