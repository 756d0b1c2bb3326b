// One origin as the fan-out feeds it: every upload is sent at once (streamed while it arrives), and one
// that fails with a 5xx, a connection error or a timeout is sent again with backoff — a playlist until a
// newer upload of its path supersedes it, a segment for about a segment's duration — while a 4xx is the
// origin's verdict and final. The uploads being sent or waiting for a retry are bounded; past the bound
// the oldest waiting one is dropped. Each upload's fate is counted (fanout/metrics.ts).
import { Readable } from 'node:stream';
import { Client, errors as undiciErrors } from 'undici';
import type { Logger } from '../src/log.js';
import type { FanoutMetrics, SendOutcome } from './metrics.js';
import { BodyFailed, TooSlow, type RetainedBody } from './retained-body.js';

export interface Upload {
  method: 'PUT' | 'POST' | 'DELETE';
  /** Request path (`/hls/<stream>/<path>`), also the key a newer playlist upload supersedes by. */
  path: string;
  kind: 'playlist' | 'segment';
  headers: Record<string, string>;
  body?: RetainedBody;
  /** The fan-out's own count of uploads: a higher one of the same path is newer. */
  seq: number;
}

/** The first try's answer at this origin: its status, or why there is none. */
export type FirstTry = { status: number } | { failed: string };

export interface OriginLinkOptions {
  segmentRetryMs: number;
  playlistRetryMs: number;
  maxBackoffMs: number;
  maxLagBytes: number;
  maxQueued: number;
  timeoutMs: number;
  now: () => number;
  stats: FanoutMetrics;
  log: Logger;
}

interface Job {
  upload: Upload;
  /** Waiting between tries (droppable to make room), not sending. */
  waiting: boolean;
  /** Ends the job: its request and any wait. */
  stop: AbortController;
  stopReason?: SendOutcome;
}

export class OriginLink {
  private readonly jobs = new Set<Job>();
  /** The newest playlist upload per path (its seq). */
  private readonly newest = new Map<string, number>();

  constructor(readonly url: string, private readonly options: OriginLinkOptions) {}

  /** Uploads being sent or waiting for a retry. */
  get queued(): number {
    return this.jobs.size;
  }

  /**
   * Starts sending `upload` (and retrying it as needed in the background); resolves with the first
   * try's answer. Never rejects.
   */
  forward(upload: Upload): Promise<FirstTry> {
    if (upload.kind === 'playlist') {
      this.newest.set(upload.path, upload.seq);
      for (const job of this.jobs) {
        if (job.waiting && job.upload.path === upload.path && job.upload.seq < upload.seq) this.end(job, 'superseded');
      }
      // Bounded: paths are the uploader's, so forget them as they go quiet.
      if (this.newest.size > 4 * this.options.maxQueued) this.newest.delete(this.newest.keys().next().value!);
    }
    if (this.jobs.size >= this.options.maxQueued) {
      const oldest = [...this.jobs].find((j) => j.waiting);
      if (oldest === undefined) {
        this.count(upload, 'queue_full');
        return Promise.resolve({ failed: 'queue_full' });
      }
      this.end(oldest, 'queue_full');
    }
    const job: Job = { upload, waiting: false, stop: new AbortController() };
    this.jobs.add(job);
    let first!: (answer: FirstTry) => void;
    const answered = new Promise<FirstTry>((resolve) => { first = resolve; });
    void this.run(job, first).finally(() => this.jobs.delete(job));
    return answered;
  }

  private end(job: Job, reason: SendOutcome): void {
    job.stopReason ??= reason;
    job.stop.abort();
  }

  private count(upload: Upload, outcome: SendOutcome): void {
    this.options.stats.outcome(this.url, outcome);
    if (outcome !== 'sent') this.options.log.warn('fanout_upload_lost', { origin: this.url, path: upload.path, outcome });
  }

  private async run(job: Job, first: (answer: FirstTry) => void): Promise<void> {
    const { upload } = job;
    let outcome: SendOutcome | undefined;
    for (let attempt = 0; outcome === undefined; attempt++) {
      if (attempt > 0) this.options.stats.retry(this.url);
      const started = performance.now();
      const result = await this.send(job);
      if (attempt === 0) first('status' in result ? { status: result.status } : { failed: result.failed });
      if ('status' in result && result.status < 500) {
        if (result.status < 400) this.options.stats.sent(this.url, (performance.now() - started) / 1000);
        outcome = result.status < 400 ? 'sent' : 'rejected';
        break;
      }
      outcome = job.stopReason ?? ('failed' in result ? this.final(result.failed) : undefined) ?? this.expired(upload);
      if (outcome !== undefined) break;
      job.waiting = true;
      await this.sleep(Math.min(this.options.maxBackoffMs, 100 * 2 ** attempt), job.stop.signal);
      job.waiting = false;
      outcome = job.stopReason ?? this.expired(upload);
    }
    this.count(upload, outcome);
  }

  /** A failure not worth another try. */
  private final(failure: string): SendOutcome | undefined {
    return failure === 'slow' || failure === 'upload_failed' ? failure : undefined;
  }

  /** Whether an upload's retry time ran out (a body still arriving has not started its clock). */
  private expired(upload: Upload): SendOutcome | undefined {
    if (upload.body?.state === 'failed') return 'upload_failed';
    if (upload.kind === 'playlist' && (this.newest.get(upload.path) ?? upload.seq) > upload.seq) return 'superseded';
    const ended = upload.body ? upload.body.endedAt : undefined;
    if (upload.body && ended === undefined) return undefined;
    const limit = upload.kind === 'playlist' ? this.options.playlistRetryMs : this.options.segmentRetryMs;
    return this.options.now() - (ended ?? this.startOf(upload)) > limit ? 'expired' : undefined;
  }

  private readonly started = new WeakMap<Upload, number>();

  private startOf(upload: Upload): number {
    let at = this.started.get(upload);
    if (at === undefined) this.started.set(upload, at = this.options.now());
    return at;
  }

  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * One try: the origin's status, or why it has none. Each try has a connection of its own, closed after
   * it: a try cut mid-body (a stalled origin) takes its socket down with it rather than leave it to a pool,
   * and uploads come a few per segment, not per millisecond.
   */
  private async send(job: Job): Promise<{ status: number } | { failed: string }> {
    const { upload } = job;
    this.startOf(upload);
    const client = new Client(this.url, {
      headersTimeout: this.options.timeoutMs,
      bodyTimeout: this.options.timeoutMs,
      connect: { timeout: Math.min(this.options.timeoutMs, 5_000) },
    });
    let cut: Error | undefined;
    const stop = (err: Error) => {
      cut ??= err;
      void client.destroy(err).catch(() => undefined);
    };
    const onStop = () => stop(new Error(job.stopReason ?? 'stopped'));
    job.stop.signal.addEventListener('abort', onStop, { once: true });
    const reading = new AbortController();
    try {
      const chunks = upload.body?.read(this.options.maxLagBytes, reading.signal, stop);
      const res = await client.request({
        path: upload.path, method: upload.method, headers: upload.headers,
        ...(chunks ? { body: Readable.from(chunks, { objectMode: false }) } : {}),
      });
      await res.body.dump();
      return { status: res.statusCode };
    } catch (err) {
      if (cut instanceof TooSlow) return { failed: 'slow' };
      if (cut instanceof BodyFailed || upload.body?.state === 'failed') return { failed: 'upload_failed' };
      if (job.stop.signal.aborted) return { failed: job.stopReason ?? 'stopped' };
      const timedOut = err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError || err instanceof undiciErrors.ConnectTimeoutError;
      this.options.log.debug('fanout_try_failed', { origin: this.url, path: upload.path, err });
      return { failed: timedOut ? 'timeout' : 'error' };
    } finally {
      reading.abort();
      job.stop.signal.removeEventListener('abort', onStop);
      void client.close().catch(() => client.destroy().catch(() => undefined));
    }
  }

  async close(): Promise<void> {
    for (const job of this.jobs) this.end(job, 'expired');
  }
}
