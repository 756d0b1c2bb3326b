// Publish keys for the RTMP and SRT ingest: which stream a publisher names, with which key, and whether
// that key is one of the transcoder's (several at once, for rotation). The two front doors that read them
// before ffmpeg sees anything are transcoder/rtmp-gate.ts and transcoder/srt-gate.ts.
//   RTMP: rtmp://host:1935/live/<stream>?key=<key>      (the publish command's name: `<stream>?key=<key>`)
//   SRT:  srt://host:9000?streamid=publish/<stream>/<key>  (the CCC's rtmp-auth/srtrelay convention)
import { timingSafeEqual } from 'node:crypto';

/** Why a publisher is refused: the log line's reason. */
export type PublishRefusal = 'no-key' | 'wrong-key' | 'wrong-stream' | 'not-publish' | 'unreadable';

export interface Publisher {
  stream: string;
  key: string | undefined;
}

/** The stream and key an RTMP publish name carries (`demo?key=abc`, other parameters ignored). */
export function rtmpPublisher(name: string): Publisher {
  const q = name.indexOf('?');
  if (q === -1) return { stream: name, key: undefined };
  const key = new URLSearchParams(name.slice(q + 1)).get('key') ?? undefined;
  return { stream: name.slice(0, q), key };
}

/**
 * The stream and key of an SRT stream id `publish/<stream>/<key>`; undefined for anything else. ffmpeg
 * sends the `streamid` of its URL as written, escapes and all, so an escaped one is read unescaped.
 */
export function srtPublisher(streamId: string): Publisher | undefined {
  let id = streamId;
  try { id = decodeURIComponent(streamId); } catch { /* not escaped */ }
  const m = /^publish\/([^/]+)\/(.+)$/.exec(id);
  return m ? { stream: m[1]!, key: m[2]! } : undefined;
}

export class PublishKeys {
  private readonly keys: Buffer[];

  /** `keys`: every key accepted for `stream` (at least one). */
  constructor(readonly stream: string, keys: readonly string[]) {
    if (keys.length === 0) throw new Error('publish keys: at least one key');
    this.keys = keys.map((k) => Buffer.from(k));
  }

  /** Why `publisher` may not publish, or undefined when it may. */
  check(publisher: Publisher | undefined): PublishRefusal | undefined {
    if (publisher === undefined) return 'not-publish';
    if (publisher.stream !== this.stream) return 'wrong-stream';
    if (publisher.key === undefined || publisher.key === '') return 'no-key';
    const given = Buffer.from(publisher.key);
    // Every key is compared, so the time taken does not say which matched.
    let ok = false;
    for (const key of this.keys) ok = (key.length === given.length && timingSafeEqual(key, given)) || ok;
    return ok ? undefined : 'wrong-key';
  }
}

/** What both doors (RTMP, SRT) are given. */
export interface DoorOptions {
  keys: PublishKeys;
  /** Where the public door listens. */
  host: string;
  port: number;
  /** ffmpeg's listener behind it (loopback). */
  upstreamHost: string;
  upstreamPort: number;
  /** One structured event per decision (publish_allowed, publish_refused). */
  onEvent: (event: string, fields: Record<string, unknown>) => void;
}

export interface Door {
  /** The port it listens on. */
  port: number;
  close(): Promise<void>;
}
