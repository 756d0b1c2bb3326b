// Redirects per edge for the status page: the total, and per second counted in whole-second buckets and
// averaged over the last few complete seconds, so the number is steady rather than a flicker of the
// current second.

export class RateMeter {
  private readonly buckets = new Map<string, { second: number; count: number }[]>();
  private readonly totals = new Map<string, number>();

  constructor(private readonly windowSeconds = 5, private readonly now: () => number = Date.now) {}

  add(key: string): void {
    this.totals.set(key, (this.totals.get(key) ?? 0) + 1);
    const second = Math.floor(this.now() / 1000);
    let ring = this.buckets.get(key);
    if (!ring) this.buckets.set(key, (ring = []));
    const last = ring[ring.length - 1];
    if (last?.second === second) last.count++;
    else {
      ring.push({ second, count: 1 });
      if (ring.length > this.windowSeconds + 1) ring.shift();
    }
  }

  total(key: string): number {
    return this.totals.get(key) ?? 0;
  }

  perSecond(key: string): number {
    const current = Math.floor(this.now() / 1000);
    let sum = 0;
    for (const b of this.buckets.get(key) ?? []) {
      if (b.second < current && b.second >= current - this.windowSeconds) sum += b.count;
    }
    return sum / this.windowSeconds;
  }
}
