// Viewers per stream: distinct clients that fetched one of its playlists within the window (a minute),
// which is what the CCC team counts from nginx logs today. Each stream keeps a Map ordered by last
// sighting (touch = delete + re-insert), so expiry pops from the front and memory is capped per stream.

export interface ViewerCounterOptions {
  windowMs: number;
  /** Beyond this many clients per stream the oldest sightings are dropped: the count saturates, memory does not grow. */
  maxPerStream: number;
  now: () => number;
}

export class ViewerCounter {
  private readonly streams = new Map<string, Map<string, number>>();

  constructor(private readonly options: ViewerCounterOptions) {}

  touch(stream: string, client: string): void {
    let seen = this.streams.get(stream);
    if (!seen) {
      seen = new Map();
      this.streams.set(stream, seen);
    }
    seen.delete(client);
    seen.set(client, this.options.now());
    if (seen.size > this.options.maxPerStream) seen.delete(seen.keys().next().value!);
  }

  /** Current counts, dropping expired sightings and streams nobody watches any more. */
  counts(): Map<string, number> {
    const horizon = this.options.now() - this.options.windowMs;
    const out = new Map<string, number>();
    for (const [stream, seen] of this.streams) {
      for (const [client, at] of seen) {
        if (at > horizon) break;
        seen.delete(client);
      }
      if (seen.size === 0) this.streams.delete(stream);
      else out.set(stream, seen.size);
    }
    return out;
  }
}
