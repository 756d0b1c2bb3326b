// URLs built from a listen address: IPv6 literals need brackets (`http://[::1]:8080`), and a zone id
// (`fe80::1%eth0`) is written `%25` inside them (RFC 6874).
import { isIPv6 } from 'node:net';
import { UsageError } from './options.js';

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

/**
 * Base URLs of other cascade servers given to `--<option>` (repeated or comma-separated): http(s), without
 * a path; at least one unless `optional`.
 */
export function parseBaseUrls(values: readonly string[], option: string, optional = false): string[] {
  const urls = values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  if (urls.length === 0 && !optional) throw new UsageError(`--${option} is required (e.g. --${option} http://127.0.0.1:8090)`);
  return urls.map((raw) => {
    let url: URL;
    try { url = new URL(raw); } catch { throw new UsageError(`--${option}: not a URL: '${raw}'`); }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--${option}: must be http(s): '${raw}'`);
    if (url.pathname !== '/' || url.search !== '') throw new UsageError(`--${option}: give the base URL without a path: '${raw}'`);
    return url.origin;
  });
}
