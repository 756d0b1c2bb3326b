// A real Redis Sentinel deployment on loopback for failover tests: one primary, one replica and three
// sentinels (quorum 2) on free ports, each with a private temp dir (sentinels rewrite their config file).
// Failure detection is tuned down from Sentinel's 30 s default so a test sees a failover in seconds.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, startChild, type Child } from './process.js';

export const MASTER_NAME = 'cascade-test';

export interface SentinelSet {
  /** The `--redis` URL: every sentinel, the master name. */
  url: string;
  primary: { port: number; child: Child };
  replica: { port: number; child: Child };
  sentinels: { port: number; child: Child }[];
  /** The port the sentinels name as primary now. */
  primaryPort(): Promise<number>;
  /** A plain client of the server on `port`. */
  client(port: number): Redis;
  stop(): Promise<void>;
}

export function sentinelMissing(): string | undefined {
  const probe = startChild('redis-sentinel', ['--version']);
  return probe.proc.pid === undefined ? 'redis-sentinel is not installed (apt-get install redis-sentinel)' : undefined;
}

const server = (port: number, dir: string, extra: string[] = []) => startChild('redis-server', [
  '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--dir', dir, ...extra,
]);

export async function startSentinelSet(options: { downAfterMs?: number } = {}): Promise<SentinelSet> {
  const dir = await mkdtemp(join(tmpdir(), 'cascade-sentinel-'));
  const children: Child[] = [];
  const clients: Redis[] = [];
  const stop = async () => {
    for (const c of clients) c.disconnect();
    for (const c of children) await c.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const [primaryPort, replicaPort, ...sentinelPorts] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    const primary = { port: primaryPort!, child: server(primaryPort!, dir) };
    children.push(primary.child);
    await primary.child.waitFor(/Ready to accept connections/);
    const replica = { port: replicaPort!, child: server(replicaPort!, dir, ['--replicaof', '127.0.0.1', String(primaryPort), '--dbfilename', 'replica.rdb']) };
    children.push(replica.child);
    await replica.child.waitFor(/MASTER <-> REPLICA sync: Finished with success/, 20_000);
    const sentinels = [];
    for (const port of sentinelPorts) {
      const conf = join(dir, `sentinel-${port}.conf`);
      await writeFile(conf, [
        `port ${port}`, 'bind 127.0.0.1', 'protected-mode no', `dir ${dir}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primaryPort} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} ${options.downAfterMs ?? 1000}`,
        `sentinel failover-timeout ${MASTER_NAME} 5000`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`,
      ].join('\n') + '\n');
      const child = startChild('redis-sentinel', [conf]);
      children.push(child);
      sentinels.push({ port, child });
    }
    // Each sentinel has found the replica and the other sentinels (through the primary's hello channel).
    for (const s of sentinels) await s.child.waitFor(/\+sentinel sentinel .*\n(.|\n)*\+sentinel sentinel /, 20_000);
    const client = (port: number) => {
      const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: false });
      c.on('error', () => { /* servers are killed on purpose */ });
      clients.push(c);
      return c;
    };
    const sentinelClient = client(sentinels[0]!.port);
    return {
      url: `redis-sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/${MASTER_NAME}`,
      primary,
      replica,
      sentinels,
      client,
      async primaryPort() {
        const [, port] = (await sentinelClient.call('SENTINEL', 'get-master-addr-by-name', MASTER_NAME)) as [string, string];
        return Number(port);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
