// Streams a body that may still be growing straight to Node's ServerResponse. @hono/node-server answers
// a body stream error after the headers by writing "Error: ..." and ending the response, which could pass
// a cut body off as complete; here an error destroys the socket, the only way HTTP/1.1 says "truncated"
// (over HTTP/2, the stream is reset).
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Context } from 'hono';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { corsHeadersOf, nodeBindingsOf } from './app.js';
import { cutResponse } from './tls.js';

export function sendStream(c: Context, status: number, headers: Record<string, string>, body: ReadableStream<Uint8Array>): Response {
  const outgoing = nodeBindingsOf(c)?.outgoing;
  // HEAD has no body to cut, and in-process requests (app.request in tests) have no socket.
  if (!outgoing || c.req.method === 'HEAD') {
    if (c.req.method === 'HEAD') void body.cancel().catch(() => undefined);
    return new Response(c.req.method === 'HEAD' ? null : body, { status, headers });
  }
  outgoing.writeHead(status, { ...corsHeadersOf(c), ...headers });
  outgoing.flushHeaders();
  pipeline(Readable.fromWeb(body as import('node:stream/web').ReadableStream), outgoing).catch(() => cutResponse(outgoing));
  return RESPONSE_ALREADY_SENT;
}
