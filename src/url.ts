// URLs built from a listen address: IPv6 literals need brackets (`http://[::1]:8080`), and a zone id
// (`fe80::1%eth0`) is written `%25` inside them (RFC 6874).
import { isIPv6 } from 'node:net';

/** `host` as it goes into a URL's authority. */
export function urlHost(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (!isIPv6(bare)) return host;
  return `[${bare.replace('%', '%25')}]`;
}

/** `http://host:port` (or another scheme's) for a listen address: IPv4, IPv6 or a name. */
export function hostPortUrl(host: string, port: number, scheme = 'http'): string {
  return `${scheme}://${urlHost(host)}:${port}`;
}
