// Viewers per stream: distinct clients that fetched one of its playlists within the window (a minute),
// which is what the CCC team counts from nginx logs today. Each stream keeps a Map ordered by last
// sighting (touch = delete + re-insert), so expiry pops from the front and memory is capped per stream.
// Both the streams and the clients per stream are bounded, and expired sightings are pruned on a timer,
// not only when /metrics is scraped: an edge nobody scrapes must not grow either.

/** The edge's bounds on `cascade_edge_viewers`: a minute's window, as the nginx log counts use. */
export const VIEWER_LIMITS = Object.freeze({
  windowMs: 60_000,
  maxPerStream: 100_000,
  /**
   * One series per stream: an edge serves a festival's few dozen streams, so 1,000 is far above real use
   * while keeping the scrape small (a series is ~80 bytes of text) and memory bounded.
   */
  maxStreams: 1_000,
});

export interface ViewerCounterOptions {
  windowMs: number;
  /** Beyond this many clients per stream the oldest sightings are dropped: the count saturates, memory does not grow. */
  maxPerStream: number;
  /** Streams tracked at once; a new stream beyond it is not counted until another one goes idle. */
  maxStreams: number;
  now: () => number;
}

export class ViewerCounter {
  private readonly streams = new Map<string, Map<string, number>>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly options: ViewerCounterOptions) {
    // A few prunes per window keep expired sightings at most a fraction of a window past their time.
    this.timer = setInterval(() => this.prune(), Math.max(1_000, options.windowMs / 4));
    this.timer.unref();
  }

  touch(stream: string, client: string): void {
    let seen = this.streams.get(stream);
    if (!seen) {
      if (this.streams.size >= this.options.maxStreams) this.prune();
      if (this.streams.size >= this.options.maxStreams) return;
      seen = new Map();
      this.streams.set(stream, seen);
    }
    seen.delete(client);
    seen.set(client, this.options.now());
    if (seen.size > this.options.maxPerStream) seen.delete(seen.keys().next().value!);
  }

  /** Drops expired sightings and streams nobody watches any more. */
  prune(): void {
    const horizon = this.options.now() - this.options.windowMs;
    for (const [stream, seen] of this.streams) {
      for (const [client, at] of seen) {
        if (at > horizon) break;
        seen.delete(client);
      }
      if (seen.size === 0) this.streams.delete(stream);
    }
  }

  /**
   * Current counts per stream; with `withinMs` (shorter than the window), only the clients seen within it:
   * sightings are in time order, so only the older ones before them are stepped over.
   */
  counts(withinMs = this.options.windowMs): Map<string, number> {
    this.prune();
    const horizon = this.options.now() - withinMs;
    const counts = new Map<string, number>();
    for (const [stream, seen] of this.streams) {
      let older = 0;
      if (withinMs < this.options.windowMs) {
        for (const at of seen.values()) {
          if (at > horizon) break;
          older++;
        }
      }
      if (seen.size > older) counts.set(stream, seen.size - older);
    }
    return counts;
  }

  close(): void {
    clearInterval(this.timer);
  }
}
