// The shape every role factory returns, and how the CLI runs one.
import type { Hono } from 'hono';
import type { FastAnswer } from './fast-http.js';
import type { Metrics } from './metrics.js';
import { listen, type Listening } from './serve.js';
import type { Logger } from './log.js';
import type { TlsFiles } from './tls.js';
import { reportListening, shareMetrics, workerSlot } from './workers.js';

export interface Role {
  app: Hono;
  /** The role's metrics: in a cluster worker, its /metrics answers for every worker. */
  readonly metrics?: Metrics;
  /** Plain requests answered on the raw socket, before Node's HTTP server and the app (src/fast-http.ts). */
  readonly fastPath?: FastAnswer;
  /** Called once the HTTP server listens (roles that announce their own URL need it). */
  onListen?(listening: Listening): void | Promise<void>;
  /** First step of a graceful stop, before the server stops accepting (an edge enters drain mode). */
  beginShutdown?(): void | Promise<void>;
  /** Releases timers, connections and files. */
  close(): Promise<void>;
}

export interface RunOptions {
  port: number;
  host: string;
  log: Logger;
  name: string;
  /** How long in-flight requests may take to finish on SIGTERM (ms). */
  graceMs?: number;
  /** Serve HTTPS (HTTP/2 + HTTP/1.1) with these files, re-read on SIGHUP. */
  tls?: TlsFiles | undefined;
}

/**
 * Starts a role for the CLI and stops it cleanly on SIGTERM/SIGINT (exit 0). In a cluster worker
 * (src/workers.ts) it listens on the shared port and the primary announces the role.
 */
export async function runRole(role: Role, options: RunOptions): Promise<Listening> {
  const worker = workerSlot();
  if (worker && role.metrics) shareMetrics(role.metrics);
  const listening = await listen(role.app, {
    port: worker?.port ?? options.port,
    host: options.host,
    reusePort: worker !== undefined,
    ...(options.tls ? { tls: options.tls } : {}),
    ...(role.fastPath ? { fastPath: role.fastPath } : {}),
  });
  await role.onListen?.(listening);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    options.log.info('shutdown', { signal });
    try {
      await role.beginShutdown?.();
      await listening.close(options.graceMs ?? 10_000);
      await role.close();
    } catch (err) {
      options.log.error('shutdown_failed', { err });
    }
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  const { reloadTls } = listening;
  if (reloadTls) {
    // A renewed certificate without a restart: new connections get it, open ones keep theirs.
    process.on('SIGHUP', () => {
      try {
        reloadTls();
        options.log.info('tls_reloaded', {});
      } catch (err) {
        options.log.error('tls_reload_failed', { err });
      }
    });
  }
  // Announced only once a SIGTERM would be handled: supervisors act on this line.
  if (worker) reportListening(listening.port);
  else process.stdout.write(`cascade ${options.name} listening on ${listening.url}\n`);
  return listening;
}
