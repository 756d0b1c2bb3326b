// The viewers bench's third contender (bench/viewers.bench.ts): the least a Node process does as an HLS
// caching relay, to tell Node's own cost per viewer from cascade's. Raw `net`, the request line only, one
// Map of whole responses (head and body in one buffer) kept for the origin's max-age, one origin fetch per
// object at a time through the global fetch. None of what makes an edge correct (no validation, no
// coalescing limits, no bounds, no revalidation, no metrics): a measuring stick, not a relay to run.
// Usage: node bench/node-relay-floor.mjs PORT ORIGIN_URL
import { createServer } from 'node:net';

const [port, origin] = [Number(process.argv[2]), process.argv[3]];
const cache = new Map();
const fetching = new Map();

async function load(path) {
  const res = await fetch(origin + path);
  const body = Buffer.from(await res.arrayBuffer());
  const maxAge = Number(/max-age=(\d+)/.exec(res.headers.get('cache-control') ?? '')?.[1] ?? 0);
  const head = `HTTP/1.1 ${res.status} ${res.statusText}\r\ncontent-type: ${res.headers.get('content-type') ?? 'application/octet-stream'}\r\n`
    + `content-length: ${body.length}\r\ncache-control: ${res.headers.get('cache-control') ?? 'no-store'}\r\n\r\n`;
  const entry = { bytes: Buffer.concat([Buffer.from(head, 'latin1'), body]), until: Date.now() + maxAge * 1000 };
  cache.set(path, entry);
  return entry;
}

function answer(socket, path) {
  const entry = cache.get(path);
  if (entry && entry.until > Date.now()) return void socket.write(entry.bytes);
  let pending = fetching.get(path);
  if (!pending) {
    pending = load(path).finally(() => fetching.delete(path));
    fetching.set(path, pending);
  }
  pending.then((e) => socket.write(e.bytes), () => socket.destroy());
}

createServer({ noDelay: true }, (socket) => {
  let pending = '';
  socket.on('data', (chunk) => {
    pending += chunk.latin1Slice();
    for (let end = pending.indexOf('\r\n\r\n'); end !== -1; end = pending.indexOf('\r\n\r\n')) {
      const line = pending.slice(0, pending.indexOf('\r\n'));
      pending = pending.slice(end + 4);
      answer(socket, line.slice(line.indexOf(' ') + 1, line.lastIndexOf(' ')));
    }
  });
  socket.on('error', () => socket.destroy());
}).listen(port, '127.0.0.1', () => process.stdout.write(`listening on ${port}\n`));
