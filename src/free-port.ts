// A port nobody listens on right now, for a server started next (tests, `cascade stack`, the transcoder's
// ffmpeg behind its publish-key door). Another process may take it in between: callers retry or fail loudly.
import { createSocket } from 'node:dgram';
import { createServer, isIPv6 } from 'node:net';

/** A free TCP port (or UDP with `udp`) on `host`. */
export async function freePort(host = '127.0.0.1', protocol: 'tcp' | 'udp' = 'tcp'): Promise<number> {
  return new Promise((res, rej) => {
    if (protocol === 'udp') {
      const socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
      socket.once('error', rej);
      socket.bind(0, host, () => {
        const { port } = socket.address();
        socket.close(() => res(port));
      });
      return;
    }
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, host, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}
