// The LB's access phase, between the path check and the decision (docs/access.md): for a request under
// /hls/ it checks the session rate limit and the signed URL, and gives a new player its session, i.e.
// the path and query the redirect's Location carries. Refusals are 429/403 from src/access.ts.
import { clientAddress } from '../src/client-address.js';
import type { Denied, PlaybackAccess } from '../src/access.js';
import { newSession } from '../src/session-token.js';
import type { RequestTarget, StreamPath } from '../src/stream-path.js';
import { formatUrlToken, parseUrlToken, withUrlToken } from '../src/url-token.js';

export interface LbAccessOptions {
  access: PlaybackAccess;
  /** Give each new player a session token in the redirect (on with a session rate: it counts sessions). */
  sessions: boolean;
  /** The decision's rule for the client address (lb/decision.ts). */
  trustProxyHops: number;
}

export type LbAdmission = { denied: Denied } | { denied?: undefined; target: string };

export type AdmitRequest = (target: RequestTarget & { stream: StreamPath }, peer: string | undefined, forwardedFor: string | undefined) => LbAdmission;

export function lbAccess({ access, sessions, trustProxyHops }: LbAccessOptions): AdmitRequest {
  return function admit(target, peer, forwardedFor) {
    const { stream, token } = target.stream;
    const client = clientAddress(peer, trustProxyHops > 0 ? forwardedFor : undefined, trustProxyHops);
    // A request that carries its session continues one; every other request starts one, which is what
    // the session rate counts (without sessions, every request).
    const continues = sessions && access.session(token) !== undefined;
    const denied = (continues ? undefined : access.rate(client)) ?? access.playback(stream, token, client);
    if (denied) return { denied };
    if (!sessions || continues) return { target: target.pathAndQuery };
    const fields = token === undefined ? {} : parseUrlToken(token);
    // A token the edges could not read either is passed on as it came (without signed URLs it is ignored).
    if (fields === undefined) return { target: target.pathAndQuery };
    const segment = formatUrlToken({ ...fields, s: newSession(access.sessionSecrets) });
    return { target: withUrlToken(target.pathAndQuery, stream, token, segment) };
  };
}
