// Playlist fuzzing against a real in-process origin (docs/origin.md, "Playlist validation"):
// random playlists from a grammar of the RFC's tags, and mutations of real ffmpeg playlists
// (test/fixtures/ffmpeg-playlists, made by generate.sh there). Every upload, after the files it names,
// must give:
//   - never a 5xx;
//   - on a 2xx, only valid published playlists (test/helpers/playlist-rules.ts, written apart from the
//     parser) whose segments, init sections and hints the origin serves;
//   - on a 4xx, a reason in the body, and the published state exactly as it was;
//   - always, the same published playlists from a second origin fed the same uploads.
// FUZZ_RUNS=2000 node --import tsx --test test/playlist-fuzz.test.ts runs it longer.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { createOrigin, type Origin } from '../origin/index.js';
import { playlistViolations } from './helpers/playlist-rules.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const FIXTURES = join(import.meta.dirname, 'fixtures', 'ffmpeg-playlists');
const STREAM = 's';

/**
 * The playlists of one ffmpeg run (`<case>-<live|end>-<file>.m3u8`), in the order the origin got them:
 * mid-stream then at the end, media playlists before their master.
 */
const runs = new Map<string, { path: string; text: string }[]>();
const masterLast = (f: string) => Number(f.endsWith('-index.m3u8') || f.endsWith('-master.m3u8'));
for (const f of readdirSync(FIXTURES).filter((n) => n.endsWith('.m3u8')).sort((x, y) => masterLast(x) - masterLast(y) || x.localeCompare(y))
  .sort((x, y) => Number(x.includes('-end-')) - Number(y.includes('-end-')))) {
  const m = /^(.+)-(?:live|end)-(.+\.m3u8)$/.exec(f)!;
  runs.set(m[1]!, [...(runs.get(m[1]!) ?? []), { path: m[2]!, text: readFileSync(join(FIXTURES, f), 'utf8') }]);
}

const closing: Origin[] = [];
after(async () => { for (const o of closing) await o.close(); });

/** URIs an uploader's playlist names, read loosely (the origin decides which are acceptable). */
function namedFiles(text: string, playlistPath: string): string[] {
  const base = playlistPath.includes('/') ? playlistPath.slice(0, playlistPath.lastIndexOf('/') + 1) : '';
  const uris = new Set<string>();
  for (const line of text.split(/\r?\n/).map((l) => l.trim())) {
    if (line === '' || line.endsWith('.m3u8')) continue;
    if (!line.startsWith('#')) uris.add(line);
    else if (line.startsWith('#EXT-X-PREFETCH:')) uris.add(line.slice(16));
    else for (const m of line.matchAll(/URI=(?:"([^"]*)"|([^,]*))/g)) uris.add(m[1] ?? m[2]!);
  }
  return [...uris].filter((u) => /^[A-Za-z0-9._/-]+$/.test(u) && !u.endsWith('.m3u8')).map((u) => base + u);
}

/** How long each file must be for the byte ranges the playlist gives it. */
function rangeEnds(text: string, playlistPath: string): Map<string, number> {
  const base = playlistPath.includes('/') ? playlistPath.slice(0, playlistPath.lastIndexOf('/') + 1) : '';
  const ends = new Map<string, number>();
  let range: RegExpExecArray | null = null;
  let previousEnd = 0;
  for (const line of text.split(/\r?\n/).map((l) => l.trim())) {
    if (line.startsWith('#EXT-X-BYTERANGE:')) range = /^(\d+)(?:@(\d+))?$/.exec(line.slice(17));
    else if (line !== '' && !line.startsWith('#')) {
      if (range) {
        previousEnd = (range[2] !== undefined ? Number(range[2]) : previousEnd) + Number(range[1]);
        ends.set(base + line, Math.max(ends.get(base + line) ?? 0, previousEnd));
      }
      range = null;
    }
  }
  return ends;
}

/** A small deterministic generator, so fast-check can replay and shrink a run from its seed. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x / 2 ** 32;
  };
}

interface Step {
  path: string;
  body: Uint8Array;
}

/** Two origins fed the same uploads; checks every invariant after each playlist upload. */
class Harness {
  private constructor(private readonly a: Origin, private readonly b: Origin) {}
  get origin(): Origin {
    return this.a;
  }
  readonly log: string[] = [];

  static async start(): Promise<Harness> {
    // The same boot tag: two origins that must publish the same without peering (see OriginConfig.bootTag).
    const a = await createOrigin({ now: () => 1_000_000, minWindow: 3, maxWindow: 6, bootTag: 'fuzz' });
    const b = await createOrigin({ now: () => 9_000_000, minWindow: 3, maxWindow: 6, bootTag: 'fuzz' });
    closing.push(a, b);
    return new Harness(a, b);
  }

  async close(): Promise<void> {
    await this.a.close();
    await this.b.close();
  }

  private async putBoth(path: string, body: Uint8Array): Promise<[Response, Response]> {
    const req = (): RequestInit => ({ method: 'PUT', body: new Uint8Array(body) });
    return [await this.a.app.request(`/hls/${STREAM}/${path}`, req()), await this.b.app.request(`/hls/${STREAM}/${path}`, req())];
  }

  /**
   * Uploads the files the playlist names, then the playlist. With `random`, one in ten of the files is
   * missing (a failed upload) and sizes vary.
   */
  async upload(step: Step, random?: () => number): Promise<number> {
    const text = Buffer.from(step.body).toString('latin1');
    const ends = rangeEnds(text, step.path);
    for (const file of namedFiles(text, step.path)) {
      if (random && random() < 0.1) continue;
      const size = Math.min(1 << 20, Math.max(random ? 1 + Math.floor(random() * 4000) : 1000, random && random() < 0.1 ? 0 : ends.get(file) ?? 0));
      await this.putBoth(file, Buffer.alloc(size, file + size));
    }
    const before = this.snapshot(this.a);
    const [ra, rb] = await this.putBoth(step.path, step.body);
    const shown = `${step.path}:\n${Buffer.from(step.body).toString('utf8')}\n(after: ${this.log.join(' | ')})`;
    this.log.push(`${step.path} -> ${ra.status}`);
    const answer = await ra.text();
    assert.ok(ra.status < 500, `5xx (${ra.status} ${answer}) for ${shown}`);
    assert.equal(rb.status, ra.status, `the second origin answered otherwise for ${shown}`);
    if (ra.status >= 400) {
      assert.ok(answer.trim().length > 0, 'a refusal says why');
      assert.equal(this.snapshot(this.a), before, `a refused upload changed the published state: ${shown}`);
    }
    this.checkPublished(shown);
    return ra.status;
  }

  private snapshot(o: Origin): string {
    const s = o.streams.get(STREAM);
    // A refused first upload may leave an empty stream behind (index.ts creates it before reading): no change.
    if (!s || Object.keys(s.publisher.state.renditions).length + Object.keys(s.publisher.state.masters).length === 0) return 'empty';
    const paths = [...Object.keys(s.publisher.state.renditions), ...Object.keys(s.publisher.state.masters)].sort();
    return JSON.stringify({ state: s.publisher.state, published: paths.map((p) => [p, s.playlist(p)?.text]) });
  }

  /** Per media playlist: the newest published media sequence and target duration, which never decrease. */
  private readonly seen = new Map<string, { msn: number; td: number }>();

  private checkPublished(shown: string): void {
    const s = this.a.streams.get(STREAM);
    const t = this.b.streams.get(STREAM);
    if (!s) return;
    const paths = new Set([...Object.keys(s.publisher.state.renditions), ...Object.keys(s.publisher.state.masters)]);
    for (const path of paths) {
      const p = s.playlist(path);
      assert.equal(t?.playlist(path)?.text, p?.text, `two origins fed the same uploads publish ${path} differently; ${shown}`);
      if (!p) continue;
      const problems = playlistViolations(p.text, path);
      assert.equal(problems.length, 0, `published ${path} breaks the RFC: ${problems.join('; ')}\n${p.text}\nafter uploading ${shown}`);
      if (p.master) continue;
      const now = { msn: Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(p.text)?.[1]), td: Number(/#EXT-X-TARGETDURATION:(\d+)/.exec(p.text)?.[1]) };
      const before = this.seen.get(path);
      if (before) {
        assert.ok(now.msn >= before.msn, `${path}: media sequence went back from ${before.msn} to ${now.msn}; ${shown}`);
        assert.ok(now.td >= before.td, `${path}: target duration went down from ${before.td} to ${now.td}; ${shown}`);
      }
      this.seen.set(path, now);
      // What the origin vouches for: segments, init sections and the hints after the last segment (keys, parts
      // inside segments and date range assets are passed on as the uploader wrote them).
      const lines = p.text.split('\n');
      const lastUri = lines.findLastIndex((l) => l !== '' && !l.startsWith('#'));
      const vouched = lines.filter((l, i) => !l.startsWith('#') || l.startsWith('#EXT-X-MAP:') || i > lastUri);
      for (const file of namedFiles(vouched.join('\n'), path)) {
        assert.ok(s.file(file), `published ${path} names '${file}', which is not served:\n${p.text}\nafter uploading ${shown}`);
      }
    }
  }
}

// ---- a grammar of playlists ------------------------------------------------------------------------------

const WEIRD_NUMBERS = ['0.5', '0x10', '1e+21', '-1', '', ' 1', '1.', '.5', 'NaN', 'Infinity', '9007199254740992', '18446744073709551615',
  '00', '1,5', '+1', '١'];
const HOSTILE_URIS = ['../x.ts', '../../o/i.mp4', 'http://evil.example/x.ts', '//evil.example/x.ts', '/abs.ts', 'a/../../b.ts', '%2e%2e/x.ts',
  'a\\b.ts', 'x.ts?q=1', 'x.ts#f', '{$v}.ts', 'skd://key', 'data:,x', 'a//b.ts', './x.ts', 'a/b/c/d/e.ts', 'javascript:alert(1)', ''];
const NAMES = ['s0.ts', 's1.ts', 's2.ts', 's3.ts', 's4.ts', 'init.mp4', 'c0.m4s', 'c1.m4s', 'sub/s5.ts', 'k.key'];

const small = fc.nat({ max: 12 }).map(String);
const int = fc.oneof({ weight: 8, arbitrary: small }, { weight: 1, arbitrary: fc.constantFrom('1700000000', '9007199254740991', '4294967296') },
  { weight: 2, arbitrary: fc.constantFrom(...WEIRD_NUMBERS) });
const float = fc.oneof({ weight: 8, arbitrary: fc.constantFrom('2', '2.000000', '1.96', '0.005333', '0', '6.5', '0.0000001', '59.99', '61') },
  { weight: 2, arbitrary: fc.constantFrom(...WEIRD_NUMBERS, '100000') });
const uri = fc.oneof({ weight: 10, arbitrary: fc.constantFrom(...NAMES) }, { weight: 2, arbitrary: fc.constantFrom(...HOSTILE_URIS) });
const quoted = (a: fc.Arbitrary<string>) => a.map((v) => `"${v}"`);
const maybeQuoted = (a: fc.Arbitrary<string>) => fc.oneof({ weight: 5, arbitrary: quoted(a) }, { weight: 1, arbitrary: a });

const headerLine = fc.oneof(
  fc.tuple(fc.constantFrom('VERSION', 'TARGETDURATION', 'MEDIA-SEQUENCE', 'DISCONTINUITY-SEQUENCE'), int).map(([t, v]) => `#EXT-X-${t}:${v}`),
  fc.constantFrom('#EXT-X-PLAYLIST-TYPE:EVENT', '#EXT-X-PLAYLIST-TYPE:VOD', '#EXT-X-PLAYLIST-TYPE:LIVE', '#EXT-X-INDEPENDENT-SEGMENTS',
    '#EXT-X-I-FRAMES-ONLY', '#EXT-X-ENDLIST', '#EXT-X-ALLOW-CACHE:NO', '#EXT-X-DEFINE:NAME="v",VALUE="http://evil.example"'),
  float.map((v) => `#EXT-X-START:TIME-OFFSET=-${v}`),
  float.map((v) => `#EXT-X-PART-INF:PART-TARGET=${v}`),
  float.map((v) => `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${v}`),
);
const byteRange = fc.tuple(int, fc.option(int)).map(([n, o]) => (o === null ? n : `${n}@${o}`));
const segmentTag = fc.oneof(
  fc.constantFrom('#EXT-X-DISCONTINUITY', '#EXT-X-GAP', '#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z', '#EXT-X-PROGRAM-DATE-TIME:soon',
    '#EXT-X-CUE-OUT:30', '#EXT-OATCLS-SCTE35:/DAlAAAA', '# a comment', '#EXT-X-VENDOR-THING:URI=http://evil.example/x'),
  byteRange.map((r) => `#EXT-X-BYTERANGE:${r}`),
  fc.tuple(maybeQuoted(uri), fc.option(quoted(byteRange))).map(([u, r]) => `#EXT-X-MAP:URI=${u}${r === null ? '' : `,BYTERANGE=${r}`}`),
  fc.tuple(maybeQuoted(uri), fc.constantFrom('', ',IV=0x0123456789abcdef0123456789abcdef', ',IV=12', ',KEYFORMAT="identity"'))
    .map(([u, rest]) => `#EXT-X-KEY:METHOD=AES-128,URI=${u}${rest}`),
  fc.tuple(maybeQuoted(uri), float).map(([u, d]) => `#EXT-X-PART:DURATION=${d},URI=${u}`),
  fc.tuple(maybeQuoted(uri), int).map(([u, n]) => `#EXT-X-PRELOAD-HINT:TYPE=PART,URI=${u},BYTERANGE-START=${n}`),
  maybeQuoted(uri).map((u) => `#EXT-X-DATERANGE:ID="ad",START-DATE="2026-01-01T00:00:00Z",X-ASSET-URI=${u}`),
  int.map((v) => `#EXT-X-BITRATE:${v}`),
);
const trailerLine = fc.oneof(
  uri.map((u) => `#EXT-X-PREFETCH:${u}`),
  fc.tuple(maybeQuoted(uri), float).map(([u, d]) => `#EXT-X-PART:DURATION=${d},URI=${u}`),
  maybeQuoted(uri).map((u) => `#EXT-X-PRELOAD-HINT:TYPE=PART,URI=${u}`),
  fc.tuple(maybeQuoted(fc.constantFrom('../v1/index.m3u8', 'index.m3u8', 'http://x/a.m3u8')), int).map(([u, n]) => `#EXT-X-RENDITION-REPORT:URI=${u},LAST-MSN=${n}`),
  int.map((n) => `#EXT-X-SKIP:SKIPPED-SEGMENTS=${n}`),
);
const segment = fc.record({
  tags: fc.array(segmentTag, { maxLength: 3 }),
  duration: float,
  title: fc.constantFrom('', 'title, with comma', 'ünï'),
  extinf: fc.oneof({ weight: 12, arbitrary: fc.constant('before') }, { weight: 1, arbitrary: fc.constantFrom('missing', 'twice', 'no-comma') }),
  uri,
}).map((s) => {
  const extinf = `#EXTINF:${s.duration}${s.extinf === 'no-comma' ? '' : ','}${s.title}`;
  const lines = [...s.tags, ...(s.extinf === 'missing' ? [] : [extinf]), ...(s.extinf === 'twice' ? [extinf] : []), s.uri];
  return lines.join('\n');
});
const mediaPlaylist = fc.tuple(
  fc.array(headerLine, { maxLength: 4 }),
  fc.boolean(),
  fc.constantFrom('2', '6', '0', '1'),
  fc.oneof({ weight: 4, arbitrary: small }, { weight: 1, arbitrary: int }),
  fc.array(segment, { maxLength: 6 }),
  fc.array(trailerLine, { maxLength: 2 }),
).map(([header, withVersion, td, seq, segments, trailer]) => [
  '#EXTM3U', ...(withVersion ? ['#EXT-X-VERSION:7'] : []), `#EXT-X-TARGETDURATION:${td}`, `#EXT-X-MEDIA-SEQUENCE:${seq}`,
  ...header, ...segments, ...trailer,
].join('\n') + '\n');

const variantUri = fc.oneof({ weight: 6, arbitrary: fc.constantFrom('v0/index.m3u8', 'v1/index.m3u8', 'a/en.m3u8') },
  { weight: 1, arbitrary: fc.constantFrom(...HOSTILE_URIS) });
const masterLine = fc.oneof(
  fc.tuple(int, fc.option(int), variantUri, fc.constantFrom('', ',RESOLUTION=640x360', ',AUDIO="aud"', ',RESOLUTION=640', ',CODECS="avc1.4d401e,mp4a.40.2"'))
    .map(([bw, avg, u, rest]) => `#EXT-X-STREAM-INF:BANDWIDTH=${bw}${avg === null ? '' : `,AVERAGE-BANDWIDTH=${avg}`}${rest}\n${u}`),
  maybeQuoted(variantUri).map((u) => `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="en",URI=${u}`),
  fc.tuple(int, maybeQuoted(variantUri)).map(([bw, u]) => `#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=${bw},URI=${u}`),
  maybeQuoted(uri).map((u) => `#EXT-X-SESSION-DATA:DATA-ID="com.example",URI=${u}`),
  maybeQuoted(uri).map((u) => `#EXT-X-SESSION-KEY:METHOD=AES-128,URI=${u}`),
  fc.constantFrom('#EXT-X-INDEPENDENT-SEGMENTS', '#EXT-X-VERSION:6', '#EXT-X-START:TIME-OFFSET=-6', '#EXT-X-ENDLIST'),
);
const masterPlaylist = fc.array(masterLine, { minLength: 1, maxLength: 5 }).map((lines) => ['#EXTM3U', ...lines].join('\n') + '\n');

// ---- mutations of real playlists ---------------------------------------------------------------------------

const RAW_INSERTS = [[0xc3, 0x28], [0xff], [0xef, 0xbb, 0xbf], [0x00], [0x0d], [0x09], [0x1b], [0xe2, 0x80, 0xa8], [0xed, 0xa0, 0x80]];

type Mutation =
  | { op: 'delete' | 'duplicate' | 'lowercase' | 'unquote' | 'truncate' | 'crlf'; at: number }
  | { op: 'swap'; at: number; to: number }
  | { op: 'insert'; at: number; line: string }
  | { op: 'number'; at: number; value: string }
  | { op: 'uri'; at: number; value: string }
  | { op: 'bytes'; at: number; bytes: number[] };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constantFrom('delete', 'duplicate', 'lowercase', 'unquote', 'truncate', 'crlf'), at: fc.nat() }) as fc.Arbitrary<Mutation>,
  fc.record({ op: fc.constant('swap' as const), at: fc.nat(), to: fc.nat() }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), line: fc.oneof(headerLine, segmentTag, trailerLine, masterLine, segment) }),
  fc.record({ op: fc.constant('number' as const), at: fc.nat(), value: fc.oneof(int, float) }),
  fc.record({ op: fc.constant('uri' as const), at: fc.nat(), value: fc.oneof(uri, fc.constantFrom(...NAMES.map((n) => `new-${n}`))) }),
  fc.record({ op: fc.constant('bytes' as const), at: fc.nat(), bytes: fc.constantFrom(...RAW_INSERTS) }),
);

function mutate(text: Uint8Array, m: Mutation): Uint8Array {
  if (m.op === 'bytes') {
    const at = m.at % (text.length + 1);
    return Buffer.concat([text.subarray(0, at), Buffer.from(m.bytes), text.subarray(at)]);
  }
  if (m.op === 'truncate') return text.subarray(0, m.at % (text.length + 1));
  const lines = Buffer.from(text).toString('utf8').split('\n');
  const i = m.at % lines.length;
  const nth = <T>(list: T[]) => list[m.at % Math.max(1, list.length)];
  switch (m.op) {
    case 'delete': lines.splice(i, 1); break;
    case 'duplicate': lines.splice(i, 0, lines[i]!); break;
    case 'swap': [lines[i], lines[m.to % lines.length]] = [lines[m.to % lines.length]!, lines[i]!]; break;
    case 'insert': lines.splice(i, 0, m.line); break;
    case 'lowercase': lines[i] = lines[i]!.replace(/^#EXT[A-Z-]*/, (t) => t.toLowerCase()); break;
    case 'unquote': lines[i] = lines[i]!.replace(/"([^"]*)"/, '$1'); break;
    case 'crlf': return Buffer.from(lines.join('\r\n'));
    case 'number': {
      const text2 = lines.join('\n');
      const spots = [...text2.matchAll(/(?<=[:=@])[0-9]+(?:\.[0-9]+)?/g)];
      const spot = nth(spots);
      if (!spot) return text;
      return Buffer.from(text2.slice(0, spot.index) + m.value + text2.slice(spot.index + spot[0].length));
    }
    case 'uri': {
      const spots = lines.flatMap((l, k) => (l !== '' && !l.startsWith('#') ? [k] : []));
      const k = nth(spots);
      if (k === undefined) return text;
      lines[k] = m.value;
      break;
    }
  }
  return Buffer.from(lines.join('\n'));
}

// ---- known bad playlists and what the fuzzer found, as named tests ---------------------------------------------

const MEDIA = (lines: string) => `#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n${lines}\n`;

test('bad playlists over HTTP: 400, the reason in the body and the metric, nothing published changes', async () => {
  const h = await Harness.start();
  const good = MEDIA('#EXT-X-MAP:URI="init.mp4"\n#EXTINF:2,\ns0.ts');
  assert.equal(await h.upload({ path: 'index.m3u8', body: Buffer.from(good) }), 204);
  const cases: [string, string | Uint8Array][] = [
    ['bad_uri', MEDIA('#EXT-X-MAP:URI=../../o/i.mp4\n#EXTINF:2,\ns0.ts')],
    ['bad_uri', MEDIA('#EXT-X-PART-INF:PART-TARGET=1\n#EXT-X-PART:DURATION=1,URI="http://evil.example/p.ts"\n#EXTINF:2,\ns0.ts')],
    ['bad_uri', MEDIA('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="../other/p.ts"\n#EXTINF:2,\ns0.ts')],
    ['bad_number', MEDIA('#EXTINF:2,\ns0.ts').replace('SEQUENCE:0', 'SEQUENCE:0.5')],
    ['bad_number', MEDIA('#EXTINF:2,\ns0.ts').replace('SEQUENCE:0', 'SEQUENCE:0x10')],
    ['bad_number', MEDIA('#EXTINF:2,\ns0.ts').replace('SEQUENCE:0', 'SEQUENCE:1e+21')],
    ['duration_too_long', MEDIA('#EXTINF:100000,\ns0.ts')],
    ['bad_encoding', Buffer.concat([Buffer.from(MEDIA('#EXTINF:2,\ns0.ts')), Buffer.from([0xc3, 0x28, 0x0a])])],
    ['bad_number', MEDIA('#EXT-X-BYTERANGE:lots@0\n#EXTINF:2,\ns0.ts')],
  ];
  for (const [reason, body] of cases) {
    const res = await h.origin.app.request('/hls/s/index.m3u8', { method: 'PUT', body: new Uint8Array(Buffer.from(body)) });
    assert.equal(res.status, 400, `${reason}: ${body}`);
    assert.match(await res.text(), /\S/, 'the body says why');
    await h.upload({ path: 'index.m3u8', body: Buffer.from(body) }); // both origins, state checked unchanged
  }
  const published = h.origin.streams.get(STREAM)!.playlist('index.m3u8')!;
  assert.match(published.text, /#EXT-X-TARGETDURATION:2\n/);
  assert.equal((await h.origin.app.request('/hls/s/index.m3u8')).headers.get('cache-control'), 'public, max-age=1', 'max-age stays half the target duration');
  const metrics = await (await h.origin.app.request('/metrics')).text();
  for (const [reason, count] of [['bad_uri', 2 * 3], ['bad_number', 2 * 4], ['duration_too_long', 2], ['bad_encoding', 2]] as const) {
    assert.match(metrics, new RegExp(`cascade_origin_rejected_uploads_total\\{reason="${reason}"[^}]*\\} ${count}\\n`), reason);
  }
  await h.close();
});

test('fuzz finding: a declared EXT-X-VERSION too low for what is published is raised', async () => {
  const h = await Harness.start();
  // Floating EXTINF under VERSION:2 (a mutated ffmpeg AES playlist), a MAP under VERSION:3, none at all.
  for (const [path, text] of [['a.m3u8', MEDIA('#EXTINF:1.5,\ns0.ts').replace('VERSION:7', 'VERSION:2')],
    ['b.m3u8', MEDIA('#EXT-X-MAP:URI="init.mp4"\n#EXTINF:1,\ns1.ts').replace('VERSION:7', 'VERSION:3')],
    ['c.m3u8', MEDIA('#EXTINF:1.5,\n#EXT-X-BYTERANGE:10@0\ns2.ts').replace('#EXT-X-VERSION:7\n', '')]] as const) {
    assert.equal(await h.upload({ path, body: Buffer.from(text) }), 204);
  }
  const version = (p: string) => /#EXT-X-VERSION:(\d+)/.exec(h.origin.streams.get(STREAM)!.playlist(p)!.text)?.[1];
  assert.deepEqual(['a.m3u8', 'b.m3u8', 'c.m3u8'].map(version), ['3', '6', '4']);
  await h.close();
});

test('fuzz finding: EXT-X-PART without EXT-X-PART-INF, and AVERAGE-BANDWIDTH above BANDWIDTH, are refused', async () => {
  const h = await Harness.start();
  assert.equal(await h.upload({ path: 'index.m3u8', body: Buffer.from(MEDIA('#EXT-X-PART:DURATION=2,URI="s0.ts"\n#EXTINF:2,\ns1.ts')) }), 400);
  assert.equal(await h.upload({ path: 'm.m3u8', body: Buffer.from('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1700000000,AVERAGE-BANDWIDTH=4294967296\nv0/index.m3u8\n') }), 400);
  await h.close();
});

test('fuzz finding: a segment whose name ends in a dot is published under a name the origin serves', async () => {
  const h = await Harness.start();
  assert.equal(await h.upload({ path: 'index.m3u8', body: Buffer.from(MEDIA('#EXTINF:2,\nindex1.')) }), 204);
  assert.match(h.origin.streams.get(STREAM)!.playlist('index.m3u8')!.text, /\nindex1\.\.[0-9a-f]{8}-\d+-\d+\n/);
  await h.close();
});

test('fuzz finding: a gap does not publish the MAP or byte range of the upload it stands for', async () => {
  const h = await Harness.start();
  const s = () => h.origin.streams.get(STREAM)!;
  const put = (path: string, body: string) => h.origin.app.request(`/hls/s/${path}`, { method: 'PUT', body });
  await put('s0.ts', 'zero');
  await put('s2.ts', 'two');
  // s1's init section never arrived, s2 (after it) did: s1 becomes a gap borrowing s0.
  await put('index.m3u8', MEDIA('#EXTINF:2,\ns0.ts\n#EXT-X-MAP:URI="lost.mp4"\n#EXT-X-BYTERANGE:4@0\n#EXTINF:2,\ns1.ts\n#EXTINF:2,\ns2.ts'));
  const text = s().playlist('index.m3u8')!.text;
  assert.match(text, /#EXTINF:2,\n#EXT-X-GAP\ns0\.[0-9a-f]{8}-\d+-\d+\.ts\n/, text);
  assert.doesNotMatch(text, /lost\.mp4|BYTERANGE/);
  await h.close();
});

// ---- the properties --------------------------------------------------------------------------------------

test('real ffmpeg playlists (ts, fmp4, masters, byte ranges, AES, LHLS) are accepted and published valid', async () => {
  for (const [name, uploads] of runs) {
    const h = await Harness.start();
    for (const { path, text } of uploads) {
      const status = await h.upload({ path, body: Buffer.from(text) });
      assert.ok(status === 204, `${name}/${path}: ${status}`);
      const published = h.origin.streams.get(STREAM)!.playlist(path)!.text;
      assert.ok(published.split('\n').some((l) => l !== '' && !l.startsWith('#')), `${name}/${path} published with its URIs:\n${published}`);
    }
    await h.close();
  }
});

test('fuzz: mutated real ffmpeg playlists', { timeout: 600_000 }, async () => {
  await fc.assert(fc.asyncProperty(fc.constantFrom(...runs.keys()), fc.nat(),
    fc.array(fc.tuple(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 3 })), { minLength: 1, maxLength: 4 }), fc.nat(),
    async (name, cut, edits, seed) => {
      // The run up to some point, then mutations of any of its playlists (as uploaded at that point or later).
      const uploads = runs.get(name)!;
      const h = await Harness.start();
      const random = prng(seed);
      try {
        for (const u of uploads.slice(0, 1 + (cut % uploads.length))) await h.upload({ path: u.path, body: Buffer.from(u.text) }, random);
        for (const [which, mutations] of edits) {
          const { path, text } = uploads[which % uploads.length]!;
          const body = mutations.reduce((b, m) => mutate(b, m), Buffer.from(text) as Uint8Array);
          await h.upload({ path, body }, random);
        }
      } finally {
        await h.close();
      }
    }), { numRuns: RUNS, includeErrorInReport: true });
});

test('fuzz: playlists from a grammar of the RFC\'s tags', { timeout: 600_000 }, async () => {
  const step = fc.record({
    path: fc.constantFrom('index.m3u8', 'v0/index.m3u8', 'v1/index.m3u8', 'a/en.m3u8'),
    text: fc.oneof({ weight: 3, arbitrary: mediaPlaylist }, { weight: 1, arbitrary: masterPlaylist }),
  });
  await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 6 }), fc.nat(), async (steps, seed) => {
    const h = await Harness.start();
    const random = prng(seed);
    try {
      for (const s of steps) await h.upload({ path: s.path, body: Buffer.from(s.text) }, random);
    } finally {
      await h.close();
    }
  }), { numRuns: RUNS, includeErrorInReport: true });
});
