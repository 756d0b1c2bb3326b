// An origin on S3 is disposable: real ffmpeg uploads to origin A (`--storage s3://...` on a real SeaweedFS),
// A is SIGKILLed mid-stream, origin B starts on the same prefix and the transcoder is pointed at it. B serves
// what A published (same URIs, same bytes), and when the uploads resume there the stream goes on with a
// discontinuity: the media sequence never goes back and no URI ever names other bytes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { parsePlaylist, type MediaPlaylist } from '../src/playlist.js';
import { CLI, startChild, type Child } from './helpers/process.js';
import { s3ServerForFile, s3ServerMissing } from './helpers/s3-server.js';

const server = s3ServerForFile();
const children: Child[] = [];
after(async () => { for (const c of children) await c.kill('SIGKILL'); });

/** `source`: a lavfi test source; a restarted camera sends other bytes, so the second run uses another one. */
function ffmpeg(url: string, source: string): Child {
  const child = startChild('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', `${source}=size=192x108:rate=10`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '10', '-sc_threshold', '0',
    '-f', 'hls', '-hls_time', '1', '-hls_list_size', '4', '-method', 'PUT', '-http_persistent', '1',
    '-hls_flags', 'delete_segments', url]);
  children.push(child);
  return child;
}

async function startOrigin(storage: string, env: Record<string, string>): Promise<{ child: Child; url: string }> {
  const child = startChild(process.execPath, [...CLI, 'origin', '--port', '0', '--host', '127.0.0.1', '--storage', storage], {
    env: { ...process.env, ...env },
  });
  children.push(child);
  const m = await child.waitFor(/listening on (http\S+)/, 30_000);
  return { child, url: m[1]! };
}

/** The origin's playlist of stream `tk`, or undefined while it has none. */
async function playlist(origin: string): Promise<MediaPlaylist | undefined> {
  const res = await fetch(`${origin}/hls/tk/index.m3u8`);
  if (res.status === 404) return undefined;
  assert.equal(res.status, 200);
  return parsePlaylist(await res.text()) as MediaPlaylist;
}

/** Polls the playlist (a bounded loop: the origin is another process, there is no event to wait on). */
async function until(origin: string, pred: (pl: MediaPlaylist) => boolean, what: string, seen: MediaPlaylist[]): Promise<MediaPlaylist> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const pl = await playlist(origin);
    if (pl) {
      seen.push(pl);
      if (pred(pl)) return pl;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('origin A on S3 SIGKILLed mid-stream: origin B on the same prefix serves what A published and carries the stream on', { skip: s3ServerMissing(), timeout: 180_000 }, async () => {
  const s3 = server()!;
  const storage = `s3://${s3.bucket}/takeover`;
  const seen: MediaPlaylist[] = [];
  const bytesOf = new Map<string, string>();
  const fetchBytes = async (origin: string, uri: string) => {
    const res = await fetch(`${origin}/hls/tk/${uri}`);
    assert.equal(res.status, 200, `${uri} from ${origin}`);
    const hash = createHash('sha1').update(Buffer.from(await res.arrayBuffer())).digest('hex');
    const before = bytesOf.get(uri);
    if (before !== undefined) assert.equal(hash, before, `${uri} names the same bytes on every origin`);
    bytesOf.set(uri, hash);
  };

  const a = await startOrigin(storage, s3.env);
  const feedA = ffmpeg(`${a.url}/hls/tk/index.m3u8`, 'testsrc2');
  const onA = await until(a.url, (pl) => pl.segments.length >= 4, '4 segments on A', seen);
  for (const s of onA.segments) await fetchBytes(a.url, s.uri);
  await a.child.kill('SIGKILL');
  await feedA.kill('SIGKILL');

  const b = await startOrigin(storage, s3.env);
  const taken = await playlist(b.url);
  assert.ok(taken, 'B publishes the playlist A left on S3 before any upload reaches it');
  seen.push(taken);
  assert.ok(taken.mediaSequence >= onA.mediaSequence, 'B does not go back behind what A published');
  for (const s of taken.segments) await fetchBytes(b.url, s.uri);
  const endOfA = taken.mediaSequence + taken.segments.length;

  ffmpeg(`${b.url}/hls/tk/index.m3u8`, 'smptebars');
  const resumed = await until(b.url, (pl) => pl.mediaSequence + pl.segments.length >= endOfA + 3, '3 new segments on B', seen);
  for (const s of resumed.segments) await fetchBytes(b.url, s.uri);
  const trace = seen.map((pl) => `${pl.mediaSequence}:${pl.segments.map((s) => (s.discontinuity ? '|' : '') + s.uri).join(',')}`).join('\n');
  assert.ok(resumed.segments.some((s) => s.discontinuity), `the restart is a discontinuity:\n${trace}`);

  let last = -1;
  for (const pl of seen) {
    assert.ok(pl.mediaSequence >= last, 'the media sequence never goes back, across the takeover');
    last = pl.mediaSequence;
  }
});
