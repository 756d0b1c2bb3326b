// The paced bench's client (bench/paced.bench.ts): C kept-alive connections, each asking for the next of
// PATHS (a request, the whole response read, then a pause), RATE requests a second in all, for SECONDS.
// Prints {"done": n, "errors": n} (an error: a status other than 200, or a connection lost). Bounded:
// it exits SECONDS + 10 s after it started whatever the server does.
// Usage: node bench/paced-client.mjs URL PATH1,PATH2,... RATE C SECONDS
import { connect } from 'node:net';

const [url, paths, rate, conns, secs] = [new URL(process.argv[2]), process.argv[3].split(','), Number(process.argv[4]), Number(process.argv[5]), Number(process.argv[6])];
let done = 0;
let errors = 0;
let next = 0;
const end = Date.now() + secs * 1000;
const gap = (1000 * conns) / rate;
const report = () => {
  process.stdout.write(`${JSON.stringify({ done, errors })}\n`);
  process.exit(0);
};
setTimeout(() => { errors++; report(); }, (secs + 10) * 1000).unref();

function client() {
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname);
    socket.setNoDelay(true);
    let received = Buffer.alloc(0);
    let need = -1;
    const ask = () => {
      if (Date.now() > end) return resolve(socket.end());
      socket.write(`GET ${paths[next++ % paths.length]} HTTP/1.1\r\nHost: ${url.host}\r\nUser-Agent: paced\r\n\r\n`);
    };
    socket.on('data', (chunk) => {
      received = received.length > 0 ? Buffer.concat([received, chunk]) : chunk;
      for (;;) {
        if (need < 0) {
          const blank = received.indexOf('\r\n\r\n');
          if (blank < 0) return;
          const head = received.subarray(0, blank).toString('latin1');
          if (!head.startsWith('HTTP/1.1 200 ')) errors++;
          const length = /\r\ncontent-length: *(\d+)/i.exec(head);
          // Every answer here has a length (whole cached objects); without one the count would be wrong.
          if (!length) { errors++; return resolve(socket.destroy()); }
          need = blank + 4 + Number(length[1]);
        }
        if (received.length < need) return;
        received = received.subarray(need);
        need = -1;
        done++;
        setTimeout(ask, gap * (0.5 + Math.random()));
      }
    });
    socket.on('error', () => { errors++; resolve(); });
    setTimeout(ask, Math.random() * gap);
  });
}

await Promise.all(Array.from({ length: conns }, client));
report();
