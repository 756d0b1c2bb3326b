// Preloaded into the cache-tests server, which listens on every interface: binds it to loopback.
import net from 'node:net';

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' || typeof args[0] === 'string') args.splice(1, 0, '127.0.0.1');
  return listen.apply(this, args);
};
