// Masters through the LB. A player resolves the variant URIs of a master against the URL it finally got
// the master from, i.e. the edge the LB's 302 sent it to, and keeps reloading its media playlists there:
// when that edge dies, every player tried except our own page (GStreamer, VLC, mpv, ffmpeg, Shaka,
// video.js, Chromium) stalled or gave up. Served with its variant URIs as absolute URLs through the LB,
// the same master sends every media playlist reload through a 302 to a live edge, while segments stay
// relative to the edge that served the media playlist (one edge still serves a player's segments).
//
// A URL token (src/url-token.ts) the player's master URL carried goes into every variant URI of the same
// stream, between stream and path, as the player's relative resolution would have kept it.
//
// The rewrite happens once per cached master version (and query and token, below) and is memoised on the object;
// each delivery only wraps the current object with the rewritten body and its own ETag, so Content-Length,
// conditional requests, ranges and HEAD are computed for the bytes actually sent.
import { createHash } from 'node:crypto';
import type { Logger } from '../src/log.js';
import { mapUriAttribute, parsePlaylist, serializeMaster, tagName, uriAttribute } from '../src/playlist.js';
import { parseStreamPath } from '../src/stream-path.js';
import { withUrlToken } from '../src/url-token.js';
import type { CachedObject } from './cache-store.js';
import { SharedBody } from './shared-body.js';

/** Tags whose URI attribute names a playlist a player reloads (RFC 8216 4.3.4.1, 4.3.4.3). */
const VARIANT_URI_TAGS = new Set(['EXT-X-MEDIA', 'EXT-X-I-FRAME-STREAM-INF']);

/** Substrings without which a body cannot be a master with variants: media playlists skip the parser. */
const MASTER_MARKERS = ['#EXT-X-STREAM-INF', '#EXT-X-I-FRAME-STREAM-INF', '#EXT-X-MEDIA:'];

/** Masters are a few hundred bytes; anything this large is passed on as it is. */
export const MAX_MASTER_BYTES = 1024 * 1024;

/** Distinct player queries and URL tokens rewritten per master version (per-viewer tokens); the oldest is dropped. */
export const MAX_QUERIES_PER_MASTER = 64;

/** One line of a master: kept as is, or a variant URI (the whole line, or its URI attribute) via the LB. */
interface TemplateLine {
  line: string;
  /** The line's variant URI through the LB; undefined for lines kept byte for byte. */
  viaLb?: {
    /** Path and query of the variant, resolved against the master's path. */
    pathAndQuery: string;
    stream: string;
    /** In the master's own stream, where a URL token goes (a signed one is good for that stream only). */
    own: boolean;
  };
  attribute: boolean;
}

interface Rendered {
  body: SharedBody;
  etag: string;
}

interface Memo {
  /** null: not a master, or nothing in it to rewrite; the object is served untouched. */
  template: TemplateLine[] | null;
  byQuery: Map<string, Rendered>;
}

export class MasterViaLb {
  private readonly memo = new WeakMap<CachedObject, Memo>();
  private readonly lbUrl: string;

  constructor(lbUrl: string, private readonly log: Logger) {
    this.lbUrl = lbUrl.replace(/\/+$/, '');
  }

  /**
   * What to deliver for a playlist object with a complete body, requested at `target` (raw path and
   * query, without the URL token) with `token` (the URL token segment, if any): the master with its
   * variant URIs through the LB, or `obj` itself.
   */
  view(obj: CachedObject, target: string, token?: string): CachedObject {
    if (obj.status !== 200 || obj.body.state !== 'complete') return obj;
    let memo = this.memo.get(obj);
    if (memo === undefined) {
      memo = { template: this.templateOf(obj, target), byQuery: new Map() };
      this.memo.set(obj, memo);
    }
    if (memo.template === null) return obj;
    const q = target.indexOf('?');
    const query = playerQuery(q === -1 ? '' : target.slice(q + 1));
    const key = token === undefined ? query : `${query}\n${token}`;
    let rendered = memo.byQuery.get(key);
    if (rendered === undefined) {
      rendered = render(memo.template, this.lbUrl, query, token);
      if (memo.byQuery.size >= MAX_QUERIES_PER_MASTER) memo.byQuery.delete(memo.byQuery.keys().next().value!);
      memo.byQuery.set(key, rendered);
    }
    // Built per delivery from the object as it is now, so headers updated on the object are followed.
    const { wholeHeads: _stale, ...rest } = obj;
    return { ...rest, headers: { ...obj.headers, etag: rendered.etag }, body: rendered.body };
  }

  /**
   * Same for an object whose body may still be arriving (a miss, or a waiter on one): waits for the body
   * to end first. A body that ends short is never rewritten; the object itself goes out and is cut.
   */
  async settledView(obj: CachedObject, target: string, token?: string): Promise<CachedObject> {
    if (obj.status !== 200) return obj;
    await settled(obj.body);
    return this.view(obj, target, token);
  }

  private templateOf(obj: CachedObject, target: string): TemplateLine[] | null {
    const buf = obj.body.buffer;
    if (!MASTER_MARKERS.some((m) => buf.includes(m))) return null;
    const q = target.indexOf('?');
    const pathname = q === -1 ? target : target.slice(0, q);
    const stream = parseStreamPath(pathname);
    const refuse = (reason: string) => {
      this.log.warn('master_not_via_lb', { ...(stream.ok ? { stream: stream.value.stream } : {}), path: pathname, reason });
      return null;
    };
    const encoding = obj.headers['content-encoding'];
    if (encoding !== undefined && encoding !== 'identity') return refuse(`content-encoding ${encoding}`);
    if (buf.length > MAX_MASTER_BYTES) return refuse(`larger than ${MAX_MASTER_BYTES} bytes`);
    let lines: string[];
    try {
      const pl = parsePlaylist(buf.toString('utf8'));
      if (pl.type !== 'master') return null;
      lines = pl.lines;
    } catch (err) {
      return refuse((err as Error).message);
    }
    const base = new URL(pathname, RESOLUTION_BASE);
    let variants = 0;
    const own = stream.ok ? stream.value.stream : undefined;
    const template = lines.map((line): TemplateLine => {
      const attribute = line.startsWith('#');
      const uri = attribute ? (VARIANT_URI_TAGS.has(tagName(line)) ? uriAttribute(line) : undefined) : line;
      const resolved = uri === undefined ? undefined : this.throughLb(uri, base);
      if (resolved === undefined) return { line, attribute };
      variants++;
      return { line, viaLb: { ...resolved, own: resolved.stream === own }, attribute };
    });
    if (variants === 0) return null;
    this.log.debug('master_via_lb', { ...(stream.ok ? { stream: stream.value.stream } : {}), path: pathname, variants });
    return template;
  }

  /** The variant's path and query (and stream) for a URL through the LB, or undefined for a URI that leads elsewhere. */
  private throughLb(uri: string, base: URL): { pathAndQuery: string; stream: string } | undefined {
    let resolved: URL;
    try {
      resolved = new URL(uri, base);
    } catch {
      return undefined;
    }
    // Absolute URIs to another host were put there on purpose; URIs outside the stream paths would be
    // refused by the LB as they are by the edge.
    const path = parseStreamPath(resolved.pathname);
    if (resolved.origin !== RESOLUTION_BASE || !path.ok) return undefined;
    return { pathAndQuery: resolved.pathname + resolved.search, stream: path.value.stream };
  }
}

/** Any origin of our own: resolving against it tells relative URIs from ones that name a host. */
const RESOLUTION_BASE = 'http://edge.invalid';

/**
 * The query the player sent on the master, carried to every variant URI (it may hold a token). LL-HLS
 * delivery directives (`_HLS_*`) belong to one request, never to the playlists it names. Characters
 * outside RFC 3986's query set are percent-encoded: the query goes into the playlist, quotes included.
 */
export function playerQuery(query: string): string {
  return query.split('&')
    .filter((p) => p !== '' && !p.startsWith('_HLS_'))
    .join('&')
    .replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%]/gu, (c) => [...Buffer.from(c)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''))
    // A '%' that starts no escape would make the URI undecodable.
    .replace(/%(?![0-9A-Fa-f]{2})/g, '%25');
}

function withQuery(url: string, query: string): string {
  if (query === '') return url;
  return url + (url.includes('?') ? '&' : '?') + query;
}

function render(template: TemplateLine[], lbUrl: string, query: string, token: string | undefined): Rendered {
  const lines = template.map(({ line, viaLb, attribute }) => {
    if (viaLb === undefined) return line;
    const { pathAndQuery, stream, own } = viaLb;
    const url = withQuery(lbUrl + (token !== undefined && own ? withUrlToken(pathAndQuery, stream, undefined, token) : pathAndQuery), query);
    return attribute ? mapUriAttribute(line, () => url) : url;
  });
  const bytes = Buffer.from(serializeMaster({ type: 'master', lines }));
  const body = new SharedBody(bytes.length);
  body.push(bytes);
  body.end();
  // A strong validator of exactly these bytes: the same on every edge with the same LB URL.
  return { body, etag: `"lb-${createHash('sha256').update(bytes).digest('base64url').slice(0, 27)}"` };
}

function settled(body: SharedBody): Promise<void> {
  if (body.state !== 'open') return Promise.resolve();
  return new Promise((resolve) => {
    const off = body.subscribe(() => {
      if (body.state === 'open') return;
      off();
      resolve();
    });
  });
}
