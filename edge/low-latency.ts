// LL-HLS at the edge (draft-pantos-hls-rfc8216bis): which requests are blocking playlist reloads, how
// long the edge waits upstream for one, and the part target of a playlist. Everything else about LL —
// coalescing by the full key, read-while-write of hinted parts, redirects while draining — is the edge's
// ordinary machinery; docs/low-latency.md, "Through the edge".
import { parseAttributeList, tagName } from '../src/playlist.js';

/**
 * §6.2.5.2: a request with `_HLS_msn` asks the server to hold it until the playlist has that segment (or
 * part). Judged on the upstream request, whose query holds only the kept parameters.
 */
export function isBlockingReload(upstreamPath: string): boolean {
  const q = upstreamPath.indexOf('?');
  return q !== -1 && new URLSearchParams(upstreamPath.slice(q + 1)).has('_HLS_msn');
}

/** PART-TARGET (seconds) from a media playlist's header lines; undefined for a playlist without parts. */
export function partTargetOf(headerLines: Iterable<string>): number | undefined {
  for (const line of headerLines) {
    if (!line.startsWith('#EXT-X-PART-INF:')) continue;
    try {
      const value = Number(parseAttributeList(line.slice('#EXT-X-PART-INF:'.length), 'EXT-X-PART-INF').find((a) => a.name === 'PART-TARGET')?.value);
      return Number.isFinite(value) && value > 0 ? value : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** EXT-X-TARGETDURATION (seconds) from a media playlist's text, reading only the lines before its first segment. */
export function targetDurationOf(text: string): number | undefined {
  let start = 0;
  while (start < text.length) {
    const end = text.indexOf('\n', start);
    const line = text.slice(start, end === -1 ? text.length : end).trimEnd();
    start = end === -1 ? text.length : end + 1;
    if (line.startsWith('#EXTINF:') || line.startsWith('#EXT-X-PART:') || (line !== '' && !line.startsWith('#'))) return undefined;
    if (tagName(line) === 'EXT-X-TARGETDURATION') {
      const value = Number(line.slice('#EXT-X-TARGETDURATION:'.length));
      return Number.isInteger(value) && value > 0 ? value : undefined;
    }
  }
  return undefined;
}

export interface BlockingTimeoutOptions {
  /** The edge's ordinary upstream timeout (ms): a blocking request never gets less. */
  upstreamTimeoutMs: number;
  /** For a playlist whose target duration the edge has not seen yet (ms). */
  fallbackMs: number;
  /** Playlists remembered (least recently learned dropped first). */
  maxEntries?: number;
}

/**
 * §6.2.5.2: "the server MUST ... return 503 if the Playlist has not been updated" within three target
 * durations, so the edge waits a fourth one on top (the origin's timer and the network), never less than
 * the ordinary upstream timeout. The target duration is learned from every media playlist the edge
 * receives, per playlist path; a playlist never seen gets `fallbackMs`.
 */
export class BlockingTimeouts {
  private readonly targetDurations = new Map<string, number>();
  private readonly maxEntries: number;

  constructor(private readonly options: BlockingTimeoutOptions) {
    this.maxEntries = options.maxEntries ?? 10_000;
  }

  /** Remembers the target duration of the media playlist at `path` (no query). */
  learn(path: string, body: Buffer): void {
    const seconds = targetDurationOf(body.toString('utf8', 0, Math.min(body.length, 4096)));
    if (seconds === undefined || this.targetDurations.get(path) === seconds) return;
    this.targetDurations.delete(path);
    this.targetDurations.set(path, seconds);
    if (this.targetDurations.size > this.maxEntries) this.targetDurations.delete(this.targetDurations.keys().next().value!);
  }

  /** The upstream timeout (ms) for a blocking reload of the playlist at `path` (no query). */
  timeoutFor(path: string): number {
    const seconds = this.targetDurations.get(path);
    if (seconds === undefined) return Math.max(this.options.upstreamTimeoutMs, this.options.fallbackMs);
    return Math.max(this.options.upstreamTimeoutMs, 4 * seconds * 1000);
  }

  get size(): number {
    return this.targetDurations.size;
  }
}
