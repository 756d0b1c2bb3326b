// The edge's access phase, first for every request under /hls/ on both roads (fresh-hit.ts before Hono,
// serve-stream.ts through it): the client address (X-Forwarded-For only with --trust-proxy), the request
// rate per client, the signed URL, and whom a playlist request counts as a viewer of (its session, else
// its address). Decided once per request, so a request the fast road hands on to Hono is counted once.
import type { Denied, PlaybackAccess } from '../src/access.js';
import { clientAddress } from '../src/client-address.js';
import type { StreamPath } from '../src/stream-path.js';

export interface Admission {
  denied: Denied | undefined;
  /** The client address, as the rate limit and the signed URL's scope saw it. */
  client: string;
}

export class EdgeAccess {
  private readonly admitted = new WeakMap<object, Admission>();

  constructor(private readonly access: PlaybackAccess, private readonly trustProxyHops: number) {}

  /**
   * Whether nothing is counted or refused (no signed URLs, no rate limit): admitting a request twice
   * (the raw fast path, then Node's road for a request it declines) changes nothing.
   */
  get open(): boolean {
    return !this.access.signed && !this.access.limited;
  }

  /**
   * The verdict on the request `key` (Node's IncomingMessage, or the Request in process) for `target`,
   * decided and counted on the first call. Without a key (the raw path, only while `open`), decided and
   * not remembered: a WeakMap entry per request was ~1% of a viewer-loaded edge's CPU.
   */
  admit(key: object | undefined, target: StreamPath, socketAddress: string | undefined, forwardedFor: string | undefined): Admission {
    let admission = key && this.admitted.get(key);
    if (admission !== undefined) return admission;
    const { access } = this;
    const client = clientAddress(socketAddress, this.trustProxyHops > 0 ? forwardedFor : undefined, this.trustProxyHops);
    admission = { denied: access.rate(client) ?? access.playback(target.stream, target.token, client), client };
    if (key) this.admitted.set(key, admission);
    return admission;
  }

  /** Whom a playlist request counts as a viewer of its stream: its session (`s:<id>`), else its address. */
  viewer(target: StreamPath, { client }: Admission): string {
    const session = this.access.session(target.token);
    return session === undefined ? client : `s:${session}`;
  }
}
