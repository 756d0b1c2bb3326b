// The edge's Prometheus metrics. Hot-path counters are tallies (src/metrics.ts): a hit adds to a number,
// not to prom-client's label-hashed map.
import type { Metrics, Tally } from '../src/metrics.js';
import { CACHE_OUTCOMES, type CacheOutcome } from './outcome.js';

export interface EdgeGaugeSources {
  cacheBytes: () => number;
  cacheEntries: () => number;
  fetching: () => number;
  waiting: () => number;
  viewers: () => Map<string, number>;
  draining: () => boolean;
}

export interface EdgeMetrics {
  request(outcome: CacheOutcome): void;
  bytesOut: { inc(n: number): void };
  upstreamAttempt(origin: string, result: string, seconds: number): void;
  /** A segment this origin answered 404 for was asked of the next origin. */
  notFoundNext(origin: string): void;
  /** Running totals since start, for the load report (edge/load.ts): no registry lookup on a hot path. */
  totals(): EdgeTotals;
}

export interface EdgeTotals {
  requests: number;
  /** Requests answered without an upstream fetch of their own: HIT, COALESCED, STALE (as the dashboard's hit ratio). */
  hits: number;
  bytes: number;
}

const HIT_OUTCOMES: ReadonlySet<CacheOutcome> = new Set(['HIT', 'COALESCED', 'STALE']);

export function edgeMetrics(metrics: Metrics, sources: EdgeGaugeSources): EdgeMetrics {
  const requests = metrics.tallied('edge_requests_total', 'Stream requests by cache result', ['result']);
  const byOutcome = Object.fromEntries(CACHE_OUTCOMES.map((o) => [o, requests.bind({ result: o })])) as Record<CacheOutcome, Tally>;
  const bytesCounter = metrics.tallied('edge_bytes_out_total', 'Body bytes sent to clients').bind({});
  const totals: EdgeTotals = { requests: 0, hits: 0, bytes: 0 };
  const upstream = metrics.counter('edge_upstream_requests_total', 'Upstream requests by origin and status (or error/timeout)', ['origin', 'status']);
  const notFoundNext = metrics.counter('edge_upstream_not_found_next_total', 'Segments an origin answered 404 for, asked of the next origin', ['origin']);
  const latency = metrics.histogram('edge_upstream_duration_seconds', 'Time to upstream response headers, by origin', ['origin'],
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
  metrics.gauge('edge_cache_bytes', 'Bytes held by the cache', [], function () { this.set(sources.cacheBytes()); });
  metrics.gauge('edge_cache_entries', 'Objects in the cache', [], function () { this.set(sources.cacheEntries()); });
  metrics.gauge('edge_upstream_inflight', 'Upstream fetches in flight', [], function () { this.set(sources.fetching()); });
  metrics.gauge('edge_clients_waiting', 'Clients waiting on an in-flight fetch (headers or body)', [], function () { this.set(sources.waiting()); });
  metrics.gauge('edge_draining', '1 while the edge redirects playlist requests to the LB', [], function () { this.set(sources.draining() ? 1 : 0); }, 'max');
  metrics.gauge('edge_viewers', 'Distinct clients that fetched a playlist of the stream in the last minute', ['stream'], function () {
    this.reset();
    for (const [stream, n] of sources.viewers()) this.set({ stream }, n);
  });
  return {
    request(outcome) {
      byOutcome[outcome].inc();
      totals.requests++;
      if (HIT_OUTCOMES.has(outcome)) totals.hits++;
    },
    bytesOut: {
      inc(n) {
        bytesCounter.inc(n);
        totals.bytes += n;
      },
    },
    totals: () => ({ ...totals }),
    upstreamAttempt(origin, result, seconds) {
      upstream.inc({ origin, status: result });
      latency.observe({ origin }, seconds);
    },
    notFoundNext: (origin) => notFoundNext.inc({ origin }),
  };
}
