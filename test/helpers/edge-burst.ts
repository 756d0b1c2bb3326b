// Child process for burst tests: N concurrent GETs of one URL, each on its own raw socket, so that the
// clients' work neither queues behind the edge's in the test process nor adds HTTP-library overhead to
// the time-to-first-byte. Prints one JSON line with, per client, status, X-Cache, body sha256,
// completeness by framing, and when its first byte arrived (this process's performance.now(), and as
// epoch milliseconds for comparing with another process's clock).
import { rawGet } from './edge-client.js';

const [url, n] = [process.argv[2]!, Number(process.argv[3])];
const results = await Promise.all(Array.from({ length: n }, () => rawGet(url)));
process.stdout.write(JSON.stringify(results.map((r) => ({
  status: r.status, cache: r.headers['x-cache'], sha: r.sha, length: r.body.length, complete: r.complete, headersAt: r.firstByteAt,
  headersAtEpoch: performance.timeOrigin + r.firstByteAt,
}))) + '\n');
