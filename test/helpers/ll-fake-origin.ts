// An in-process LL-HLS origin for edge, LB and load tests, following draft-pantos-hls-rfc8216bis: media
// playlists with EXT-X-PART-INF, EXT-X-PART, EXT-X-SERVER-CONTROL, EXT-X-PRELOAD-HINT,
// EXT-X-RENDITION-REPORT and delta updates; blocking playlist reload (§6.2.5.2: held until the playlist
// has the asked segment or part, 400 for an _HLS_msn beyond the last segment + 2 or _HLS_part alone,
// 503 after three target durations); part URIs derived from the segment's name (`seg-12.p3.m4s`); the
// hinted part answered at once and streamed as it is written. The media is not real (bytes that name
// their rendition, segment and part), so players cannot decode it; the edge and the LB do not care.
// Parts are published by `advance()` (tests step through them) or on a timer (`run()`). Every request
// is counted with its query, and may be delayed.
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LlFakeOriginOptions {
  stream?: string;
  /** Media playlists `<name>.m3u8`; every part is published in all of them at once. */
  renditions?: string[];
  partTargetMs?: number;
  partsPerSegment?: number;
  partBytes?: number;
  /** Complete segments at the start (the first has media sequence 10). */
  initialSegments?: number;
  /** Segments listed in a playlist. */
  window?: number;
  /** Extra response headers, by what is answered (e.g. Cache-Control as an origin would set it). */
  headers?: Partial<Record<'playlist' | 'blocking' | 'part' | 'segment' | 'master', Record<string, string>>>;
  /** How long a blocking request is held before the 503 (default three target durations). */
  holdTimeoutMs?: number;
  /** Every answer waits this long first. */
  delayMs?: number;
}

export interface Seen { url: string; at: number }

export interface LlFakeOrigin {
  url: string;
  server: Server;
  stream: string;
  renditions: readonly string[];
  partTargetMs: number;
  targetDurationS: number;
  /** Requests per path with query, as received. */
  count(pathWithQuery: string): number;
  seen: Seen[];
  /** The segment being written and how many of its parts are published. */
  readonly position: { msn: number; parts: number };
  /** Requests held now (blocking reloads and hinted parts). */
  readonly held: number;
  /** Publishes the next part in every rendition and answers what it unblocks; returns performance.now() of the release. */
  advance(): number;
  /** Publishes a part every part target until stopped. */
  run(): { stop(): void };
  paths: {
    master: string;
    playlist(rendition: string, query?: string): string;
    part(rendition: string, msn: number, part: number): string;
    segment(rendition: string, msn: number): string;
  };
  /** The bytes of a published (or hinted) part. */
  partBytes(rendition: string, msn: number, part: number): Buffer;
  close(): Promise<void>;
}

interface Held { res: ServerResponse; done: () => boolean; answer: () => void; timer?: NodeJS.Timeout }

export async function startLlFakeOrigin(options: LlFakeOriginOptions = {}): Promise<LlFakeOrigin> {
  const stream = options.stream ?? 'll';
  const renditions = options.renditions ?? ['media_0', 'media_1'];
  const partTargetMs = options.partTargetMs ?? 500;
  const perSegment = options.partsPerSegment ?? 4;
  const partSize = options.partBytes ?? 2_000;
  const window = options.window ?? 6;
  const targetDurationS = Math.ceil((partTargetMs * perSegment) / 1000);
  const holdTimeoutMs = options.holdTimeoutMs ?? 3 * targetDurationS * 1000;
  const base = `/hls/${stream}/`;
  const FIRST = 10;
  const position = { msn: FIRST + (options.initialSegments ?? 3), parts: 0 };
  let version = 0;
  const counts = new Map<string, number>();
  const seen: Seen[] = [];
  let held: Held[] = [];

  const partBytes = (rendition: string, msn: number, part: number): Buffer => {
    const label = Buffer.from(`${rendition} ${msn}.${part}|`);
    const out = Buffer.alloc(partSize, 0x2e);
    label.copy(out, 0, 0, Math.min(label.length, partSize));
    return out;
  };
  const segmentBytes = (rendition: string, msn: number, parts: number): Buffer =>
    Buffer.concat(Array.from({ length: parts }, (_, p) => partBytes(rendition, msn, p)));
  const partName = (msn: number, part: number) => `seg-${msn}.p${part}.m4s`;

  function playlist(rendition: string, skip: boolean): string {
    // Media lives in the rendition's directory; the playlist (beside it) names it relative to itself.
    const partLine = (msn: number, part: number) =>
      `#EXT-X-PART:DURATION=${(partTargetMs / 1000).toFixed(3)},URI="${rendition}/${partName(msn, part)}"${part === 0 ? ',INDEPENDENT=YES' : ''}`;
    const first = Math.max(FIRST, position.msn - window);
    const skipUntilS = 6 * targetDurationS;
    const lines = [
      '#EXTM3U', '#EXT-X-VERSION:9', `#EXT-X-TARGETDURATION:${targetDurationS}`,
      `#EXT-X-PART-INF:PART-TARGET=${(partTargetMs / 1000).toFixed(3)}`,
      `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${((3 * partTargetMs) / 1000).toFixed(3)},CAN-SKIP-UNTIL=${skipUntilS}`,
      `#EXT-X-MEDIA-SEQUENCE:${first}`, `#EXT-X-MAP:URI="${rendition}/init.mp4"`,
    ];
    // A delta update leaves out the segments older than the last two.
    const skipped = skip ? Math.max(0, position.msn - first - 2) : 0;
    if (skipped > 0) lines.push(`#EXT-X-SKIP:SKIPPED-SEGMENTS=${skipped}`);
    for (let msn = first + skipped; msn < position.msn; msn++) {
      if (msn >= position.msn - 2) for (let p = 0; p < perSegment; p++) lines.push(partLine(msn, p));
      lines.push(`#EXTINF:${((perSegment * partTargetMs) / 1000).toFixed(3)},`, `${rendition}/seg-${msn}.m4s`);
    }
    for (let p = 0; p < position.parts; p++) lines.push(partLine(position.msn, p));
    lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${rendition}/${partName(position.msn, position.parts)}"`);
    for (const other of renditions) {
      if (other === rendition) continue;
      const [lastMsn, lastPart] = position.parts > 0 ? [position.msn, position.parts - 1] : [position.msn - 1, perSegment - 1];
      lines.push(`#EXT-X-RENDITION-REPORT:URI="${other}.m3u8",LAST-MSN=${lastMsn},LAST-PART=${lastPart}`);
    }
    return lines.join('\n') + '\n';
  }

  const master = (): string => ['#EXTM3U', '#EXT-X-VERSION:9', '#EXT-X-INDEPENDENT-SEGMENTS',
    ...renditions.flatMap((r, i) => [`#EXT-X-STREAM-INF:BANDWIDTH=${(i + 1) * 400_000},CODECS="avc1.4d401e"`, `${r}.m3u8`])].join('\n') + '\n';

  /** §6.2.5.2: the playlist has segment `msn` (complete), or part `part` of it. */
  const satisfies = (msn: number, part: number | undefined): boolean =>
    position.msn > msn || (part !== undefined && position.msn === msn && position.parts > part);

  function send(res: ServerResponse, status: number, headers: Record<string, string>, body: string | Buffer): void {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    res.writeHead(status, { 'content-length': String(bytes.length), ...headers }).end(bytes);
  }

  function answerPlaylist(res: ServerResponse, rendition: string, query: URLSearchParams): void {
    const msnText = query.get('_HLS_msn');
    const partText = query.get('_HLS_part');
    const skip = query.get('_HLS_skip') === 'YES' || query.get('_HLS_skip') === 'v2';
    const type = { 'content-type': 'application/vnd.apple.mpegurl' };
    if (msnText === null) {
      if (partText !== null) return send(res, 400, {}, '_HLS_part without _HLS_msn\n');
      return send(res, 200, { ...type, etag: `"v${version}"`, ...options.headers?.playlist }, playlist(rendition, skip));
    }
    const msn = Number(msnText);
    const part = partText === null ? undefined : Number(partText);
    if (!Number.isInteger(msn) || (part !== undefined && !Number.isInteger(part))) return send(res, 400, {}, 'bad directive\n');
    if (msn > position.msn - 1 + 2) return send(res, 400, {}, '_HLS_msn beyond the last segment + 2\n');
    const answer = () => send(res, 200, { ...type, etag: `"v${version}"`, ...options.headers?.blocking }, playlist(rendition, skip));
    if (satisfies(msn, part)) return answer();
    const entry: Held = { res, done: () => satisfies(msn, part), answer };
    entry.timer = setTimeout(() => {
      held = held.filter((h) => h !== entry);
      send(res, 503, { 'cache-control': 'no-store' }, 'not available within three target durations\n');
    }, holdTimeoutMs);
    held.push(entry);
  }

  function answerPart(res: ServerResponse, rendition: string, msn: number, part: number): void {
    const headers = { 'content-type': 'video/iso.segment', ...options.headers?.part };
    const published = msn < position.msn ? part < perSegment : msn === position.msn && part < position.parts;
    if (published) return send(res, 200, headers, partBytes(rendition, msn, part));
    if (msn !== position.msn || part !== position.parts) return send(res, 404, {}, 'no such part\n');
    // The hinted part: headers and the bytes written so far at once, the rest when it is complete.
    const bytes = partBytes(rendition, msn, part);
    res.writeHead(200, { ...headers, 'content-length': String(bytes.length) });
    res.write(bytes.subarray(0, bytes.length >> 1));
    held.push({ res, done: () => satisfies(msn, part), answer: () => res.end(bytes.subarray(bytes.length >> 1)) });
  }

  function answerSegment(res: ServerResponse, rendition: string, msn: number): void {
    const headers = { 'content-type': 'video/iso.segment', ...options.headers?.segment };
    if (msn < position.msn) return send(res, 200, headers, segmentBytes(rendition, msn, perSegment));
    if (msn !== position.msn) return send(res, 404, {}, 'no such segment\n');
    // The segment being written: its parts so far, then each as it is published (chunked).
    res.writeHead(200, headers);
    let sent = 0;
    const more = () => {
      for (; sent < (position.msn > msn ? perSegment : position.parts); sent++) res.write(partBytes(rendition, msn, sent));
    };
    more();
    // Asked after every part: writes what was published, and is done when the segment is.
    held.push({ res, done: () => { more(); return position.msn > msn; }, answer: () => res.end() });
  }

  function route(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://origin');
    if (!url.pathname.startsWith(base)) return send(res, 404, {}, 'not found\n');
    const name = url.pathname.slice(base.length);
    if (name === 'index.m3u8') return send(res, 200, { 'content-type': 'application/vnd.apple.mpegurl', ...options.headers?.master }, master());
    const pl = /^(.+)\.m3u8$/.exec(name);
    if (pl && renditions.includes(pl[1]!)) return answerPlaylist(res, pl[1]!, url.searchParams);
    const dir = name.split('/');
    const rendition = dir.length === 2 ? dir[0]! : undefined;
    const file = dir.at(-1)!;
    const part = /^seg-(\d+)\.p(\d+)\.m4s$/.exec(file);
    const segment = /^seg-(\d+)\.m4s$/.exec(file);
    if (rendition && renditions.includes(rendition) && part) return answerPart(res, rendition, Number(part[1]), Number(part[2]));
    if (rendition && renditions.includes(rendition) && segment) return answerSegment(res, rendition, Number(segment[1]));
    if (rendition && file === 'init.mp4') return send(res, 200, { 'content-type': 'video/mp4' }, Buffer.from(`init ${rendition}`));
    send(res, 404, {}, 'not found\n');
  }

  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    seen.push({ url, at: performance.now() });
    counts.set(url, (counts.get(url) ?? 0) + 1);
    res.on('error', () => undefined);
    if (options.delayMs) setTimeout(() => route(req, res), options.delayMs);
    else route(req, res);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;

  function advance(): number {
    position.parts++;
    if (position.parts === perSegment) {
      position.msn++;
      position.parts = 0;
    }
    version++;
    const ready = held.filter((h) => h.done());
    held = held.filter((h) => !ready.includes(h));
    for (const h of ready) {
      clearTimeout(h.timer);
      if (!h.res.destroyed) h.answer();
    }
    return performance.now();
  }

  return {
    url: `http://127.0.0.1:${port}`,
    server,
    stream,
    renditions,
    partTargetMs,
    targetDurationS,
    count: (p) => counts.get(p) ?? 0,
    seen,
    position,
    get held() { return held.length; },
    advance,
    run() {
      const timer = setInterval(advance, partTargetMs);
      return { stop: () => clearInterval(timer) };
    },
    paths: {
      master: `${base}index.m3u8`,
      playlist: (r, query) => `${base}${r}.m3u8${query ? `?${query}` : ''}`,
      part: (r, msn, p) => `${base}${r}/${partName(msn, p)}`,
      segment: (r, msn) => `${base}${r}/seg-${msn}.m4s`,
    },
    partBytes,
    close: () => new Promise<void>((r) => {
      for (const h of held) clearTimeout(h.timer);
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
