// `GET /api/streams` on the origin: every stream with its renditions (src/stream-summary.ts), read by
// LBs for their dashboard and their player pages' "not live yet" / "ended". Built from the stream table
// in memory on each request: no storage read, bounded in size.
import { Hono } from 'hono';
import type { StreamTable } from './stream-table.js';

export function streamsApiRoutes(streams: StreamTable): Hono {
  const routes = new Hono();
  routes.get('/streams', (c) => c.json({ streams: streams.summaries() }, 200, { 'Cache-Control': 'no-store' }));
  return routes;
}
