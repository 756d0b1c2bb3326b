// The ingest/transcode stage with real ffmpeg against an in-test PUT receiver standing in for the origin:
// test source --RTMP--> transcoder --PUT--> receiver. Small renditions, ultrafast, low fps (2-core box).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CLI, freePort, startChild } from './helpers/process.js';
import { startUploadCapture, type CapturedRequest } from './helpers/upload-capture.js';
import { parseLadder, startTestSource, startTranscoder, transcodeArgs, testSourceArgs, uploadPreset, type Supervisor } from '../transcoder/index.js';

const TOKEN = 'sekret-token';
/** A whole segment upload (the capture also holds requests still arriving). */
const isSegment = (stream: string, ext: string) => (u: CapturedRequest) => u.method === 'PUT' && u.state === 'complete' && new RegExp(`^/hls/${stream}/[a-z0-9]+_\\d+\\.${ext}$`).test(u.path) && u.body().length > 0;
/** A whole upload of `path`. */
const uploaded = (path: string) => (u: CapturedRequest) => u.path === path && u.state === 'complete';
/** When a request's body ended (undefined while it arrives). */
const endedAt = (u: CapturedRequest) => u.endedAt ?? Infinity;

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

async function waitUntil(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('arguments: ABR ladder, PUT upload with token, master index.m3u8, fMP4 and PDT options', () => {
  const ladder = parseLadder('720p,480p,360p');
  const args = transcodeArgs({ origin: 'http://o:8090/', stream: 'demo', uploadToken: 's3cret-T', input: 'rtmp', listenHost: '0.0.0.0', ladder });
  const joined = args.join(' ');
  assert.ok(joined.includes('-listen 1 -i rtmp://0.0.0.0:1935/live/demo'));
  assert.ok(joined.includes('-f hls -hls_time 2'));
  assert.ok(joined.includes('-master_pl_name index.m3u8'));
  assert.ok(joined.includes('-var_stream_map v:0,a:0,name:720p v:1,a:1,name:480p v:2,a:2,name:360p'));
  assert.ok(joined.includes('-method PUT -http_persistent 1'));
  // The token is read from stdin, never from the command line, where `ps` shows it (docs/low-latency.md).
  assert.ok(joined.includes('-fpre /dev/stdin'));
  assert.ok(!joined.includes('s3cret-T'));
  assert.equal(uploadPreset({ origin: 'http://o', stream: 's', input: 'rtmp', ladder, uploadToken: 's3cret-T' }), 'headers=Authorization: Bearer s3cret-T\n');
  assert.throws(() => uploadPreset({ origin: 'http://o', stream: 's', input: 'rtmp', ladder, uploadToken: 'a\nb' }), /line break/);
  assert.ok(transcodeArgs({ origin: 'http://o', stream: 's', input: 'rtmp', listenHost: '::1', ladder }).join(' ').includes('-i rtmp://[::1]:1935/live/s'));
  assert.ok(joined.includes('program_date_time') && joined.includes('independent_segments') && joined.includes('delete_segments'));
  assert.equal(args.at(-1), 'http://o:8090/hls/demo/%v.m3u8');
  assert.equal(args.at(-2), 'http://o:8090/hls/demo/%v_%d.ts');

  const fmp4 = transcodeArgs({ origin: 'http://o', stream: 's', input: 'srt', ladder, segmentType: 'fmp4', programDateTime: false, startNumber: 'zero' }).join(' ');
  assert.ok(fmp4.includes('-i srt://127.0.0.1:9000?mode=listener'));
  assert.ok(fmp4.includes('-hls_segment_type fmp4 -hls_fmp4_init_filename init_%v.mp4'));
  assert.ok(fmp4.endsWith('http://o/hls/s/%v_%d.m4s http://o/hls/s/%v.m3u8'));
  assert.ok(!fmp4.includes('program_date_time'));
  assert.ok(!fmp4.includes('epoch'));
  assert.ok(!fmp4.includes('Authorization'));

  assert.deepEqual(parseLadder('hd=1280x720@2500,240p').map((r) => [r.name, r.width, r.height, r.videoKbps]), [['hd', 1280, 720, 2500], ['240p', 426, 240, 400]]);
  assert.throws(() => parseLadder('999p'), /bad ladder rung/);
  assert.throws(() => parseLadder('x=641x360@100'), /even/);
  assert.ok(testSourceArgs({ to: 'srt://h:9000' }).includes('mpegts'));
  assert.ok(testSourceArgs({ to: 'rtmp://h:1935/live/x' }).includes('flv'));
});

test('source -> RTMP ingest -> transcoder -> PUT uploads; restarts after its ffmpeg is killed', async (t) => {
  const receiver = await startUploadCapture();
  const rtmpPort = await freePort();
  const logs: string[] = [];
  const stages: Supervisor[] = [];
  t.after(async () => {
    await Promise.all(stages.map((s) => s.stop()));
    await receiver.close();
  });
  const transcoder = startTranscoder({
    origin: receiver.url, stream: 'tc', uploadToken: TOKEN, input: 'rtmp', rtmpPort,
    ladder: parseLadder('180p,144p'), fps: 10, preset: 'ultrafast', audioKbps: 48, listSize: 4,
    onLog: (l) => logs.push(`[transcoder] ${l}`), minBackoffMs: 200,
  });
  stages.push(transcoder);
  const source = startTestSource({
    to: `rtmp://127.0.0.1:${rtmpPort}/live/tc`, size: '320x180', fps: 10, preset: 'ultrafast', videoKbps: 300,
    onLog: (l) => logs.push(`[source] ${l}`), minBackoffMs: 200, maxBackoffMs: 1000,
  });
  stages.push(source);

  try {
    const master = await receiver.waitFor(uploaded('/hls/tc/index.m3u8'), 30_000, 'master playlist');
    const text = master.body().toString();
    assert.match(text, /#EXT-X-STREAM-INF:.*BANDWIDTH=\d+/);
    assert.match(text, /^180p\.m3u8$/m);
    assert.match(text, /^144p\.m3u8$/m);
    assert.equal(master.headers.authorization, `Bearer ${TOKEN}`);
    assert.equal(master.headers['transfer-encoding'], 'chunked');

    await receiver.waitFor((_u, all) => all.filter(isSegment('tc', 'ts')).length >= 4, 30_000, 'four segments');
    const media = receiver.files.get('/hls/tc/180p.m3u8')?.toString() ?? '';
    assert.match(media, /#EXT-X-TARGETDURATION:2/);
    assert.match(media, /#EXT-X-PROGRAM-DATE-TIME:/);
    assert.match(media, /#EXTINF:2\.0+,/);
    const firstSeq = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(media)?.[1]);
    assert.ok(firstSeq > 1_000_000_000, 'epoch start number');
    for (const u of receiver.requests) assert.equal(u.headers.authorization, `Bearer ${TOKEN}`, `${u.method} ${u.path}`);
    assert.ok(!readFileSync(`/proc/${transcoder.pid}/cmdline`, 'utf8').includes(TOKEN), 'the token is not on ffmpeg\'s command line');
    assert.ok(!logs.some((l) => l.includes('No trailing CRLF')), 'ffmpeg\'s warning about the preset header is not logged');
    // Segments arrive before the playlist that names them.
    const seg = receiver.requests.find(isSegment('tc', 'ts'))!;
    const name = seg.path.split('/').pop()!;
    const firstListing = receiver.requests.find((u) => u.path.endsWith('.m3u8') && u.state === 'complete' && u.body().toString().includes(name))!;
    assert.ok(receiver.requests.indexOf(seg) < receiver.requests.indexOf(firstListing));

    // Kill the transcoder's ffmpeg by pid: the loop starts a new one, the source reconnects, uploads resume.
    const oldPid = transcoder.pid!;
    const startsBefore = transcoder.starts;
    process.kill(oldPid, 'SIGKILL');
    const killedAt = Date.now();
    await waitUntil(() => transcoder.starts > startsBefore && transcoder.pid !== undefined && transcoder.pid !== oldPid, 10_000, 'a new transcoder ffmpeg');
    assert.ok(!alive(oldPid));
    await receiver.waitFor((u) => endedAt(u) > killedAt && isSegment('tc', 'ts')(u) && u.path.startsWith('/hls/tc/180p_'), 30_000, 'a segment after the restart');
    await receiver.waitFor((u) => endedAt(u) > killedAt && uploaded('/hls/tc/index.m3u8')(u), 10_000, 'the master again after the restart');
    const after = (await receiver.waitFor((u) => endedAt(u) > killedAt && uploaded('/hls/tc/180p.m3u8')(u), 10_000, 'a media playlist after the restart')).body().toString();
    const seqAfter = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(after)?.[1]);
    const oldNumbers = receiver.requests.filter((u) => endedAt(u) <= killedAt && isSegment('tc', 'ts')(u)).map((u) => Number(/_(\d+)\.ts$/.exec(u.path)![1]));
    assert.ok(seqAfter > Math.max(...oldNumbers), `a restarted encoder never reuses a number (${firstSeq}..${Math.max(...oldNumbers)} -> ${seqAfter})`);
  } catch (err) {
    console.error(logs.slice(-40).join('\n'));
    throw err;
  }

  const pids = [transcoder.pid, source.pid].filter((p): p is number => p !== undefined);
  await Promise.all(stages.map((s) => s.stop()));
  for (const pid of pids) assert.ok(!alive(pid), `ffmpeg ${pid} stopped`);
});

test('SRT ingest: the source pushes MPEG-TS over SRT to the listener, the ladder reaches the receiver', async (t) => {
  const receiver = await startUploadCapture();
  const srtPort = await freePort();
  const logs: string[] = [];
  const transcoder = startTranscoder({
    origin: receiver.url, stream: 'srt', input: 'srt', srtPort, ladder: parseLadder('144p'), fps: 10,
    preset: 'ultrafast', audioKbps: 48, onLog: (l) => logs.push(`[transcoder] ${l}`), minBackoffMs: 200,
  });
  const source = startTestSource({
    to: `srt://127.0.0.1:${srtPort}`, size: '320x180', fps: 10, preset: 'ultrafast', videoKbps: 300,
    onLog: (l) => logs.push(`[source] ${l}`), minBackoffMs: 200, maxBackoffMs: 1000,
  });
  t.after(async () => { await Promise.all([source.stop(), transcoder.stop()]); await receiver.close(); });
  try {
    await receiver.waitFor(uploaded('/hls/srt/index.m3u8'), 30_000, 'the master over SRT');
    await receiver.waitFor(isSegment('srt', 'ts'), 15_000, 'a segment over SRT');
  } catch (err) {
    console.error(logs.slice(-30).join('\n'));
    throw err;
  }
});

test('fMP4 segments from the built-in test pattern: init segment and EXT-X-MAP', async (t) => {
  const receiver = await startUploadCapture();
  const transcoder = startTranscoder({
    origin: receiver.url, stream: 'f', input: 'testsrc', testSize: '320x180', ladder: parseLadder('144p'), fps: 10,
    preset: 'ultrafast', audioKbps: 48, segmentType: 'fmp4', startNumber: 'zero', onLog: () => {},
  });
  t.after(async () => { await transcoder.stop(); await receiver.close(); });
  await receiver.waitFor((u) => uploaded('/hls/f/144p.m3u8')(u) && /\.m4s$/m.test(u.body().toString()), 20_000, 'an fMP4 media playlist');
  assert.ok(receiver.files.get('/hls/f/init_144p.mp4')?.length, `init segment uploaded: ${[...receiver.files.keys()].join(' ')}`);
  const media = receiver.files.get('/hls/f/144p.m3u8')!.toString();
  assert.match(media, /#EXT-X-MAP:URI="init_144p.mp4"/);
  assert.match(media, /^144p_0\.m4s$/m);
  assert.ok(receiver.files.get('/hls/f/144p_0.m4s')?.length);
});

test('CLI: a bad option exits 2 with one line; the parent dying takes ffmpeg with it', async (t) => {
  const bad = startChild(process.execPath, [...CLI, 'transcode', '--ladder', '999p']);
  assert.equal(await bad.exited, 2);
  assert.equal(bad.output().trim().split('\n').length, 1);
  assert.match(bad.output(), /--ladder: bad ladder rung '999p'/);

  const receiver = await startUploadCapture();
  t.after(() => receiver.close());
  const cli = startChild(process.execPath, [...CLI, 'transcode', '--input', 'testsrc', '--ladder', '144p', '--fps', '5', '--preset', 'ultrafast'], {
    env: { ...process.env, CASCADE_ORIGIN: receiver.url, CASCADE_STREAM: 'cli' },
  });
  t.after(() => cli.kill('SIGKILL'));
  const [, pid] = await cli.waitFor(/started pid (\d+)/, 20_000);
  const ffmpegPid = Number(pid);
  assert.ok(alive(ffmpegPid));
  assert.match(cli.output(), /ffmpeg command: ffmpeg .*-f hls/);
  await receiver.waitFor(uploaded('/hls/cli/144p.m3u8'), 20_000, 'a playlist from the CLI');
  // SIGKILL cannot be caught: only the kernel's parent-death signal can stop the child now.
  await cli.kill('SIGKILL');
  await waitUntil(() => !alive(ffmpegPid), 5000, `ffmpeg ${ffmpegPid} to die with its parent`);
});
