// One edge on a loopback port with a clock the test moves, for the HTTP-level edge tests.
import { createEdge, type Edge, type EdgeConfig } from '../../edge/index.js';
import { listen, type Listening } from '../../src/serve.js';

export interface EdgeHarness { edge: Edge; server: Listening; url: string; clock: { now: number }; stop(): Promise<void> }

export async function startTestEdge(config: Partial<EdgeConfig> & { origins: string[] }): Promise<EdgeHarness> {
  const clock = { now: 5_000_000 };
  const edge = createEdge({ id: 'edge-d', now: () => clock.now, ...config });
  // With the edge's raw-socket fast path, as `cascade edge` runs it.
  const server = await listen(edge.app, { port: 0, host: '127.0.0.1', ...(edge.fastPath ? { fastPath: edge.fastPath } : {}) });
  return { edge, server, url: server.url, clock, async stop() { await server.close(500); await edge.close(); } };
}
