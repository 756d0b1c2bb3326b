// The shape adapter between the cache-tests harness and a cascade edge. The harness asks for
// `/test/<uuid>[/<file>][?query]` and talks to its server's `/config/` and `/state/` through the cache
// under test; the edge serves only `/hls/<stream>/<path>` and sends no client header upstream. So:
//
//   harness -> front -> edge  /hls/<uuid>/<file or "x">[?query]   (every client header passed on)
//           edge -> back  -> test server /test/<uuid>[/<file>][?query]
//   /config/* and /state/* (the harness's bookkeeping, not content) -> test server directly
//
// The test server numbers requests by the client's `Req-Num` header, which the edge (by design) does
// not forward; `back` adds the bookkeeping headers of the latest client request for that uuid (a test's
// requests are sequential, so an upstream request for the uuid is caused by that one). Nothing else is
// added, changed or removed either way: both hops pass raw headers (repeated lines included).
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The harness's own headers: test identity and request number. */
const BOOKKEEPING = ['req-num', 'test-id', 'test-name'];
/** The edge's stream path needs a file name; the harness's bare `/test/<uuid>` becomes this one. */
const BARE = 'x';

export interface Adapter { front: string; back: string; close(): Promise<void> }

export async function startEdgeAdapter(testServer: string, edge: () => string): Promise<Adapter> {
  const latest = new Map<string, Record<string, string>>();
  const server = new URL(testServer);

  const relay = (req: IncomingMessage, res: ServerResponse, target: URL, path: string, extra: Record<string, string> = {}) => {
    const headers: string[] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      if (req.rawHeaders[i]!.toLowerCase() === 'host') continue;
      headers.push(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    }
    for (const [k, v] of Object.entries(extra)) headers.push(k, v);
    headers.push('host', target.host);
    const up = request({ host: target.hostname, port: target.port, method: req.method, path, headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.statusMessage, r.rawHeaders);
      r.pipe(res);
    });
    up.on('error', () => { if (!res.headersSent) res.writeHead(502).end(); else res.destroy(); });
    req.pipe(up);
  };

  const front = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://front');
    const m = /^\/test\/([^/]+)(?:\/(.+))?$/.exec(url.pathname);
    if (!m) return relay(req, res, server, req.url ?? '/');
    const [, uuid, file] = m;
    latest.set(uuid!, Object.fromEntries(BOOKKEEPING.flatMap((h) => (typeof req.headers[h] === 'string' ? [[h, req.headers[h] as string]] : []))));
    relay(req, res, new URL(edge()), `/hls/${uuid}/${file ?? BARE}${url.search}`);
  });
  const back = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://back');
    const m = /^\/hls\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!m) return void res.writeHead(404).end();
    const [, uuid, file] = m;
    relay(req, res, server, `/test/${uuid}${file === BARE ? '' : `/${file}`}${url.search}`, latest.get(uuid!) ?? {});
  });
  const listen = (s: typeof front) => new Promise<string>((r) => s.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)));
  const [f, b] = [await listen(front), await listen(back)];
  return {
    front: f,
    back: b,
    close: async () => {
      for (const s of [front, back]) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
    },
  };
}
