// A role on N processes (`--workers`), all cores used: node:cluster workers, each its own role instance
// listening on the same port with SO_REUSEPORT, so the kernel spreads connections and nothing passes
// through the primary. The primary only supervises: it starts worker 0 (which picks the port when 0 is
// asked), then the others on that port, announces the URL once, restarts a worker that dies, and on
// SIGTERM/SIGINT stops them all gracefully (each drains as a single process would) and exits 0.
// /metrics in any worker answers for all of them (prom-client's AggregatorRegistry in the primary).
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { AggregatorRegistry } from 'prom-client';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { OptionSpec } from './options.js';
import { hostPortUrl } from './url.js';

/** The `--workers` option of the edge and the LB. */
export const WORKERS_OPTION = {
  type: 'int', default: availableParallelism(), min: 1, max: 256,
  help: 'processes serving the port (SO_REUSEPORT); 1 = a single process, no cluster',
} as const satisfies OptionSpec;

/** Which worker this process is, and how many there are. */
export interface WorkerSlot {
  index: number;
  count: number;
  /** The port every worker listens on (chosen by worker 0 when 0 was asked). */
  port: number;
  /** The primary's pid: names what the workers share (sockets), unique per running role. */
  primaryPid: number;
}

const ENV = 'CASCADE_WORKER_SLOT';
const LISTENING = 'cascade:listening';
const METRICS_REQ = 'cascade:metrics-req';
const METRICS_RES = 'cascade:metrics-res';
const GATHER_REQ = 'cascade:gather-req';
const GATHER_ASK = 'cascade:gather-ask';
const GATHER_PART = 'cascade:gather-part';
const GATHER_RES = 'cascade:gather-res';
/** A gathering answers with the parts that arrived by then (a worker restarting has none to give). */
const GATHER_TIMEOUT_MS = 1000;
/** A worker that dies is restarted after this long (a crash loop costs one fork a second, not a spin). */
const RESTART_DELAY_MS = 1000;

/** This process's slot when it is a cluster worker started by superviseWorkers; undefined otherwise. */
export function workerSlot(): WorkerSlot | undefined {
  const raw = cluster.isWorker ? process.env[ENV] : undefined;
  return raw === undefined ? undefined : JSON.parse(raw) as WorkerSlot;
}

/** Whether this process should supervise workers rather than serve (`--workers` > 1, and not a worker itself). */
export function isSupervisor(workers: number): boolean {
  return workers > 1 && cluster.isPrimary;
}

/** In a worker: tells the primary it listens (the primary announces the role once every worker does). */
export function reportListening(port: number): void {
  process.send?.({ type: LISTENING, port });
}

/** In a worker: /metrics of this process renders the sum over every worker (asked of the primary). */
export function shareMetrics(metrics: Metrics): void {
  AggregatorRegistry.setRegistries([metrics.registry]);
  new AggregatorRegistry(); // registers the worker's answer to the primary's requests
  let seq = 0;
  const pending = new Map<number, (body: string | Error) => void>();
  process.on('message', (m: { type?: string; id?: number; body?: string; error?: string }) => {
    if (m.type !== METRICS_RES || m.id === undefined) return;
    pending.get(m.id)?.(m.error !== undefined ? new Error(m.error) : m.body ?? '');
    pending.delete(m.id);
  });
  metrics.renderWith(() => new Promise<string>((resolve, reject) => {
    const id = ++seq;
    pending.set(id, (body) => (body instanceof Error ? reject(body) : resolve(body)));
    process.send?.({ type: METRICS_REQ, id });
  }));
}

/**
 * In a worker: answers the primary's asks for `name` with `part()`, and returns how to gather every
 * live worker's part (this one's included), e.g. the edge's load, which each worker sees only a share of.
 */
export function shareAcrossWorkers<T>(name: string, part: () => T): () => Promise<T[]> {
  let seq = 0;
  const pending = new Map<number, (parts: T[]) => void>();
  process.on('message', (m: { type?: string; name?: string; id?: number; parts?: T[] }) => {
    if (m.name !== name || m.id === undefined) return;
    if (m.type === GATHER_ASK) process.send?.({ type: GATHER_PART, name, id: m.id, part: part() });
    if (m.type === GATHER_RES) {
      pending.get(m.id)?.(m.parts ?? []);
      pending.delete(m.id);
    }
  });
  return () => new Promise<T[]>((resolve) => {
    const id = ++seq;
    pending.set(id, resolve);
    process.send?.({ type: GATHER_REQ, name, id });
  });
}

export interface SuperviseOptions {
  count: number;
  port: number;
  host: string;
  /** The role's name in the announcement (`cascade <name> listening on <url>`). */
  name: string;
  log: Logger;
  /** The workers serve TLS: the announcement says https, and SIGHUP (certificate reload) goes on to every worker. */
  tls?: boolean;
}

/** Runs `count` workers of this same command and supervises them until SIGTERM/SIGINT; resolves with the exit code. */
export function superviseWorkers({ count, port, host, name, log, tls = false }: SuperviseOptions): Promise<number> {
  const aggregator = new AggregatorRegistry();
  const workers = new Map<number, Worker>();
  let stopping = false;
  let sharedPort = port;

  // Gatherings in flight (shareAcrossWorkers): each ends when every asked worker answered, or on its timeout.
  const gatherings = new Map<number, (part: unknown) => void>();
  let gatherSeq = 0;
  const gather = (asker: Worker, name: string, askerId: number): void => {
    const id = ++gatherSeq;
    const asked = [...workers.values()].filter((w) => w.isConnected());
    const parts: unknown[] = [];
    const finish = () => {
      if (!gatherings.delete(id)) return;
      clearTimeout(timer);
      if (asker.isConnected()) asker.send({ type: GATHER_RES, name, id: askerId, parts });
    };
    const timer = setTimeout(finish, GATHER_TIMEOUT_MS);
    gatherings.set(id, (part) => {
      parts.push(part);
      if (parts.length === asked.length) finish();
    });
    for (const w of asked) w.send({ type: GATHER_ASK, name, id });
  };

  return new Promise((resolve) => {
    const fork = (index: number): Promise<number> => new Promise((listening, failed) => {
      const slot: WorkerSlot = { index, count, port: sharedPort, primaryPid: process.pid };
      const worker = cluster.fork({ [ENV]: JSON.stringify(slot) });
      workers.set(index, worker);
      worker.on('message', (m: { type?: string; port?: number; id?: number; name?: string; part?: unknown }) => {
        if (m.type === LISTENING && m.port !== undefined) listening(m.port);
        if (m.type === GATHER_REQ && m.name !== undefined && m.id !== undefined) gather(worker, m.name, m.id);
        if (m.type === GATHER_PART && m.id !== undefined) gatherings.get(m.id)?.(m.part);
        if (m.type === METRICS_REQ) {
          aggregator.clusterMetrics().then(
            (body) => worker.send({ type: METRICS_RES, id: m.id, body }),
            (err: Error) => worker.send({ type: METRICS_RES, id: m.id, error: err.message }),
          );
        }
      });
      worker.once('exit', (code, signal) => {
        if (workers.get(index) === worker) workers.delete(index);
        failed(new Error(`worker ${index} exited (${signal ?? code}) before listening`));
        if (stopping) {
          if (workers.size === 0) resolve(0);
          return;
        }
        log.error('worker_exited', { worker: index, code, signal });
        setTimeout(() => { if (!stopping) fork(index).catch(() => undefined); }, RESTART_DELAY_MS).unref();
      });
    });

    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      log.info('shutdown', { signal, workers: workers.size });
      if (workers.size === 0) return resolve(0);
      for (const w of workers.values()) w.process.kill('SIGTERM');
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    // Each worker re-reads the certificate itself (src/role.ts); the primary only passes the signal on.
    if (tls) process.on('SIGHUP', () => { for (const w of workers.values()) w.process.kill('SIGHUP'); });

    void (async () => {
      try {
        sharedPort = await fork(0);
        await Promise.all(Array.from({ length: count - 1 }, (_, i) => fork(i + 1)));
      } catch (err) {
        // A worker that cannot even start (port taken, bad config) is not restarted: stop the rest, exit 1.
        log.error('workers_failed', { err });
        stop('SIGTERM');
        return resolve(1);
      }
      if (stopping) return;
      process.stdout.write(`cascade ${name} listening on ${hostPortUrl(host, sharedPort, tls ? 'https' : 'http')} (${count} workers)\n`);
    })();
  });
}
