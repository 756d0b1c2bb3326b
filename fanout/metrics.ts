// The fan-out's metrics, per origin (docs/fanout.md, "Metrics"): what each upload came to, retries, how
// long a successful send took, and what is queued now.
import type { Metrics } from '../src/metrics.js';

/** What an upload came to at one origin. */
export type SendOutcome =
  | 'sent' // 2xx
  | 'rejected' // 4xx: the origin refused it; never retried
  | 'expired' // failed until its retry time ran out
  | 'superseded' // a playlist failed and a newer upload of its path came
  | 'slow' // the origin fell too far behind the uploader
  | 'upload_failed' // the uploader's body broke off
  | 'queue_full'; // dropped to keep the origin's queue bounded

export interface FanoutMetrics {
  outcome(origin: string, outcome: SendOutcome): void;
  retry(origin: string): void;
  sent(origin: string, seconds: number): void;
}

export function fanoutMetrics(metrics: Metrics, queued: () => Map<string, number>): FanoutMetrics {
  const outcomes = metrics.counter('fanout_uploads_total', 'Uploads forwarded, by origin and what they came to', ['origin', 'outcome']);
  const retries = metrics.counter('fanout_retries_total', 'Tries after the first, by origin', ['origin']);
  const latency = metrics.histogram('fanout_send_duration_seconds', 'From the start of the try that succeeded to the origin\'s answer, by origin', ['origin']);
  metrics.gauge('fanout_queued', 'Uploads being sent or waiting for a retry, by origin', ['origin'], function collect() {
    for (const [origin, n] of queued()) this.set({ origin }, n);
  });
  return {
    outcome: (origin, outcome) => outcomes.inc({ origin, outcome }),
    retry: (origin) => retries.inc({ origin }),
    sent: (origin, seconds) => latency.observe({ origin }, seconds),
  };
}
