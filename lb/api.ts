// `/api/*` on the LB: its own view as JSON, for the status page, `cascade edges --lb` and monitoring, and
// the origin's streams (lb/streams.ts) with the viewers the edges report, for the dashboard and players.
import { Hono } from 'hono';
import { isValidStreamName } from '../src/stream-path.js';
import type { LbStatus } from './status.js';
import type { StreamDirectory } from './streams.js';

export interface StreamSources {
  directory: StreamDirectory;
  /** Viewers per stream from the edges' load reports; null without any. */
  viewers(): ReadonlyMap<string, number> | null;
}

const NO_STORE = { 'Cache-Control': 'no-store' };

export function apiRoutes(status: () => LbStatus, { directory, viewers }: StreamSources): Hono {
  const routes = new Hono();
  routes.get('/edges', (c) => {
    const { edges, redis } = status();
    return c.json(edges, 200, { ...NO_STORE, 'X-Cascade-Redis': redis });
  });
  routes.get('/status', (c) => c.json(status(), 200, NO_STORE));
  routes.get('/streams', async (c) => {
    const view = await directory.current();
    const counts = viewers();
    return c.json({ ...view, streams: view.streams.map((s) => ({ ...s, viewers: counts ? counts.get(s.name) ?? 0 : null })) }, 200, NO_STORE);
  });
  // What a player page polls while it waits for its stream: small, and cached by the directory.
  routes.get('/streams/:name', async (c) => {
    const name = c.req.param('name');
    if (!isValidStreamName(name)) return c.json({ error: 'bad stream name' }, 400);
    return c.json({ name, state: await directory.presence(name) }, 200, NO_STORE);
  });
  return routes;
}
