// `/api/*` on the LB: its own view as JSON, for the status page, `cascade edges --lb` and monitoring.
import { Hono } from 'hono';
import type { LbStatus } from './status.js';

export function apiRoutes(status: () => LbStatus): Hono {
  const routes = new Hono();
  routes.get('/edges', (c) => {
    const { edges, redis } = status();
    return c.json(edges, 200, { 'Cache-Control': 'no-store', 'X-Cascade-Redis': redis });
  });
  routes.get('/status', (c) => c.json(status(), 200, { 'Cache-Control': 'no-store' }));
  return routes;
}
