// Filling a segment from a peer (--peer, docs/origin.md "Redundant origins"): origins fed the same uploads
// publish the same names, so a segment this origin never got is asked of each peer under the name both
// publish it as, by plain GET (published names need no credentials). The bytes are kept only when whole
// and what the peer says they are: Content-Length and the ETag, which an origin makes from the upload's
// SHA-256. A peer that does not have it yet is asked again until `timeoutMs` has passed.
import { createHash } from 'node:crypto';
import { streamUrlPath } from '../src/stream-path.js';
import type { Logger } from '../src/log.js';

export interface PeerSegment {
  bytes: Buffer;
  /** SHA-256 hex, as an upload's. */
  hash: string;
}

export type PeerFetch = (stream: string, name: string) => Promise<PeerSegment | undefined>;

export interface PeerFillOptions {
  timeoutMs: number;
  maxBytes: number;
  log: Logger;
  onResult: (result: 'filled' | 'missing') => void;
}

export function peerFetch(peers: readonly string[], options: PeerFillOptions): PeerFetch {
  return async (stream, name) => {
    const deadline = Date.now() + options.timeoutMs;
    for (let round = 0; Date.now() < deadline; round++) {
      for (const peer of peers) {
        const got = await fetchVerified(`${peer}${streamUrlPath(stream, name)}`, Math.max(1, deadline - Date.now()), options.maxBytes).catch(() => undefined);
        if (got !== undefined) {
          options.onResult('filled');
          options.log.info('peer_filled', { stream, name, peer, bytes: got.bytes.length });
          return got;
        }
      }
      await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** round, 1000, Math.max(0, deadline - Date.now()))));
    }
    options.onResult('missing');
    options.log.warn('peer_fill_failed', { stream, name });
    return undefined;
  };
}

async function fetchVerified(url: string, timeoutMs: number, maxBytes: number): Promise<PeerSegment | undefined> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const length = Number(res.headers.get('content-length') ?? NaN);
  const etag = res.headers.get('etag');
  if (res.status !== 200 || !(length <= maxBytes) || etag === null) {
    await res.body?.cancel();
    return undefined;
  }
  const bytes = Buffer.from(await res.arrayBuffer());
  const hash = createHash('sha256').update(bytes).digest('hex');
  return bytes.length === length && etag === `"${hash.slice(0, 20)}"` ? { bytes, hash } : undefined;
}
