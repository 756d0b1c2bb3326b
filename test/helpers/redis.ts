// A private redis-server on a free loopback port, for tests that need the real control plane.
import { freePort, startChild, type Child } from './process.js';

export interface TestRedis {
  url: string;
  port: number;
  child: Child;
  stop(): Promise<void>;
  /** Starts it again on the same port (after stop), for outage tests. */
  restart(): Promise<void>;
}

async function launch(port: number): Promise<Child> {
  const child = startChild('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no']);
  await child.waitFor(/Ready to accept connections/);
  return child;
}

export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  const r: TestRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    child: await launch(port),
    async stop() { await r.child.kill('SIGKILL'); },
    async restart() { r.child = await launch(port); },
  };
  return r;
}
