// The streams the origin has, as the LB knows them: its `GET /api/streams` (src/stream-summary.ts), read
// only when someone asks (the dashboard, a player page waiting for its stream) and then at most once per
// `ttlMs` however many ask, from the first `--origin` that answers. An origin that fails keeps the last
// list it gave, marked as such; the answer is bounded in time and size and checked before it is shown.
import { silentLogger, type Logger } from '../src/log.js';
import { parseStreamSummaries, type StreamSummary } from '../src/stream-summary.js';

/** off: no --origin; up: the last read worked; down: it failed (the list is the last good one, if any). */
export type OriginState = 'off' | 'up' | 'down';

export interface StreamDirectoryView {
  origin: OriginState;
  /** When the list was read (ms since the epoch); null: never. */
  readAt: number | null;
  streams: StreamSummary[];
}

/** Whether a player page should wait: absent = the origin has no such stream (yet). */
export type Presence = StreamSummary['state'] | 'absent' | 'unknown';

export const STREAM_DIRECTORY_DEFAULTS = Object.freeze({
  /** How long a read answers every ask (the dashboard polls every second). */
  ttlMs: 1000,
  timeoutMs: 2000,
  /** 500 streams of 32 renditions fit with room to spare. */
  maxBytes: 4 * 1024 * 1024,
});

export class StreamDirectory {
  private view: StreamDirectoryView;
  private pending: Promise<StreamDirectoryView> | undefined;
  private fetchedAt = -Infinity;

  constructor(private readonly origins: readonly string[], private readonly log: Logger = silentLogger,
    private readonly options = STREAM_DIRECTORY_DEFAULTS, private readonly now: () => number = Date.now) {
    this.view = { origin: origins.length ? 'down' : 'off', readAt: null, streams: [] };
  }

  /** The list, read again when older than ttlMs (one read at a time, shared by every caller). */
  async current(): Promise<StreamDirectoryView> {
    if (this.origins.length === 0 || this.now() - this.fetchedAt < this.options.ttlMs) return this.view;
    this.pending ??= this.read().finally(() => { this.pending = undefined; });
    return this.pending;
  }

  async presence(name: string): Promise<Presence> {
    const view = await this.current();
    if (view.origin !== 'up') return 'unknown';
    return view.streams.find((s) => s.name === name)?.state ?? 'absent';
  }

  private async read(): Promise<StreamDirectoryView> {
    const problems: string[] = [];
    for (const origin of this.origins) {
      try {
        const streams = parseStreamSummaries(JSON.parse(await this.fetchText(`${origin}/api/streams`)));
        if (!streams) throw new Error('not a stream list');
        if (this.view.origin !== 'up') this.log.info('origin_streams_up', { origin });
        this.view = { origin: 'up', readAt: this.now(), streams };
        this.fetchedAt = this.now();
        return this.view;
      } catch (err) {
        problems.push(`${origin}: ${(err as Error).message}`);
      }
    }
    if (this.view.origin === 'up') this.log.warn('origin_streams_down', { problems });
    this.view = { ...this.view, origin: 'down' };
    this.fetchedAt = this.now();
    return this.view;
  }

  private async fetchText(url: string): Promise<string> {
    const res = await fetch(url, { signal: AbortSignal.timeout(this.options.timeoutMs), headers: { accept: 'application/json' } });
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw new Error(`status ${res.status}`);
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > this.options.maxBytes) {
        await reader.cancel();
        throw new Error(`longer than ${this.options.maxBytes} bytes`);
      }
      chunks.push(value);
    }
    return Buffer.concat(chunks).toString('utf8');
  }
}

/** Viewers per stream over every edge's last load report (null: no edge reports). */
export function viewersByStream(loads: ReadonlyMap<string, { streams: Record<string, number> }>): Map<string, number> | null {
  if (loads.size === 0) return null;
  const total = new Map<string, number>();
  for (const load of loads.values()) for (const [stream, n] of Object.entries(load.streams)) total.set(stream, (total.get(stream) ?? 0) + n);
  return total;
}
