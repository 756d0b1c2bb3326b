// The transcoder's low-latency mode with real ffmpeg against the upload capture server: every segment
// streams over one chunked PUT for about a segment's duration, a chunk per video frame; the fragments the
// CMAF scanner finds while the bytes arrive are those of the finished file, and the parts cut from them
// are what ffprobe reads; a restarted ffmpeg never reuses a name. Plus the options, without ffmpeg.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FragmentScanner, parseInit, scanSegment, type Fragment } from '../src/cmaf.js';
import { UsageError } from '../src/options.js';
import { stackOptionsFrom } from '../cli/stack.js';
import { cutParts } from '../origin/part-cutter.js';
import { audioFragmentSeconds, parseLadder, startTranscoder, transcodeArgs, uploadPreset } from '../transcoder/index.js';
import { CLI, startChild } from './helpers/process.js';
import { startUploadCapture, type CapturedRequest } from './helpers/upload-capture.js';

const TOKEN = "t0k:en'with=odd\\chars";
const SEGMENT = /^\/hls\/ll\/chunk-(\d{13})-(\d)-(\d{5})\.m4s$/;

describe('low-latency arguments and options', () => {
  it('the dash muxer, streaming, a fragment per video frame, audio fragments sized to the part target, names with the start time', () => {
    const options = {
      origin: 'http://o:8090', stream: 'demo', uploadToken: TOKEN, input: 'rtmp', ladder: parseLadder('360p,240p'), fps: 30,
      lowLatency: true, partTargetMs: 300, startedAt: 1_700_000_000_123,
    } as const;
    const args = transcodeArgs(options);
    const joined = args.join(' ');
    for (const want of ['-f dash -streaming 1 -lhls 1 -hls_playlist 1 -strict experimental', '-seg_duration 2 -frag_type every_frame',
      '-tune zerolatency', '-force_key_frames expr:gte(t,n_forced*2)', '-g 60 -keyint_min 60', '-map [v0] -map [v1] -map 0:a -c:v',
      '-hls_master_name index.m3u8', '-init_seg_name init-1700000000123-$RepresentationID$.$ext$',
      '-media_seg_name chunk-1700000000123-$RepresentationID$-$Number%05d$.$ext$', '-method PUT -http_persistent 1 -ignore_io_errors 1', '-write_prft 1 -utc_timing_url https://time.akamai.com/?iso']) {
      assert.ok(joined.includes(want), `${want} in ${joined}`);
    }
    // 300 ms holds 14 AAC frames (298.7 ms); frag_duration half a frame under that.
    assert.ok(joined.includes(`-adaptation_sets id=0,streams=0 id=1,streams=1 id=2,frag_type=duration,frag_duration=${(13.5 * 1024 / 48000).toFixed(6)},streams=2`));
    assert.equal(args.at(-1), 'http://o:8090/hls/demo/manifest.mpd');
    // The dash muxer ignores -headers: the token goes through -http_opts, escaped for ffmpeg's dictionary
    // syntax, in the preset ffmpeg reads from stdin, never on its command line (docs/low-latency.md).
    assert.ok(!args.includes('-headers') && !joined.includes('t0k') && joined.includes('-fpre /dev/stdin'));
    assert.equal(uploadPreset(options), "http_opts=headers=Authorization\\:\\ Bearer\\ t0k\\:en\\'with\\=odd\\\\chars:tcp_nodelay=1\n");
    const open = transcodeArgs({ origin: 'http://o', stream: 's', input: 'rtmp', ladder: parseLadder('144p'), lowLatency: true });
    assert.ok(!open.includes('-fpre') && open.join(' ').includes('-http_opts tcp_nodelay=1'));
    assert.throws(() => transcodeArgs({ origin: 'http://o', stream: 's', input: 'rtmp', ladder: parseLadder('144p'), lowLatency: true, deleteSegments: false }), /always deletes/);
    assert.deepEqual([100, 500, 2000].map((ms) => Math.round(audioFragmentSeconds(ms) / (1024 / 48000) + 0.5)), [4, 23, 93]);
  });

  it('CLI: --part-target is checked (100ms..2s, not longer than a segment); --low-latency needs deletes', async () => {
    for (const [args, message] of [
      [['--low-latency', '--part-target', '50ms'], /--part-target: must be between 100ms and 2s \(got 50ms\)/],
      [['--part-target', '2.5s'], /--part-target: must be between 100ms and 2s/],
      [['--part-target', '1500ms', '--hls-time', '1'], /--part-target: 1500ms is longer than a segment \(1s\)/],
      [['--low-latency', '--no-delete-segments'], /--no-delete-segments cannot be used with --low-latency/],
    ] as const) {
      const child = startChild(process.execPath, [...CLI, 'transcode', ...args]);
      assert.equal(await child.exited, 2, child.output());
      assert.match(child.output(), message);
      assert.equal(child.output().trim().split('\n').length, 1);
    }
  });

  it('cascade stack: --low-latency implies fMP4 and passes the part target on', () => {
    const o = stackOptionsFrom(['--low-latency', '--part-target', '0.3s'], {})!;
    assert.deepEqual([o.lowLatency, o.partTargetMs, o.segmentType], [true, 300, 'fmp4']);
    const plain = stackOptionsFrom([], {})!;
    assert.deepEqual([plain.lowLatency, plain.partTargetMs, plain.segmentType], [false, 500, 'ts']);
    assert.throws(() => stackOptionsFrom(['--part-target', '5s'], {}), UsageError);
    assert.equal(stackOptionsFrom([], { CASCADE_LOW_LATENCY: 'true' })!.lowLatency, true);
  });
});

describe('real ffmpeg in low-latency mode', () => {
  it('segments stream frame by frame over one PUT; scanner and part cutter agree with ffprobe; a restart reuses no name', { timeout: 180_000 }, async (t) => {
    const capture = await startUploadCapture();
    const logs: string[] = [];
    const tmp = mkdtempSync(join(tmpdir(), 'transcoder-ll-'));
    const transcoder = startTranscoder({
      origin: capture.url, stream: 'll', uploadToken: TOKEN, input: 'testsrc', testSize: '320x180', ladder: parseLadder('180p,144p'),
      fps: 10, preset: 'ultrafast', audioKbps: 48, lowLatency: true, listSize: 3, partTargetMs: 500, minBackoffMs: 200,
      onLog: (l) => logs.push(l),
    });
    t.after(async () => {
      await transcoder.stop();
      await capture.close();
      rmSync(tmp, { recursive: true, force: true });
    });

    // Scan every segment upload as its chunks arrive, with the init segment of its representation.
    const inits = new Map<string, Buffer>();
    const live = new Map<CapturedRequest, { scanner: FragmentScanner; fragments: Fragment[]; chunks: number; aligned: number }>();
    capture.onEvent((event, r) => {
      const init = /^\/hls\/ll\/init-(\d{13})-(\d)\.m4s$/.exec(r.path);
      if (init && event === 'end' && r.state === 'complete') inits.set(`${init[1]}-${init[2]}`, r.body());
      const seg = SEGMENT.exec(r.path);
      if (!seg || event !== 'chunk') return;
      let w = live.get(r);
      if (!w) {
        const bytes = inits.get(`${seg[1]}-${seg[2]}`);
        const parsed = bytes && parseInit(bytes);
        if (!parsed || !parsed.ok) return;
        live.set(r, (w = { scanner: new FragmentScanner(parsed.value), fragments: [], chunks: 0, aligned: 0 }));
      }
      const chunk = r.chunks.at(-1)!;
      const found = w.scanner.push(chunk.bytes).fragments;
      w.fragments.push(...found);
      w.chunks++;
      if (found.length === 1 && found[0]!.offset + found[0]!.length === chunk.offset + chunk.bytes.length) w.aligned++;
    });
    const complete = (rep: string) => (r: CapturedRequest) => SEGMENT.exec(r.path)?.[2] === rep && r.state === 'complete' && live.has(r);

    try {
      // Three complete segments of rendition 0 after the first (which starts before any playlist names it).
      await capture.waitFor((_r, all) => all.filter(complete('0')).length >= 4, 60_000, 'four video segments');
      const master = capture.files.get('/hls/ll/index.m3u8')?.toString() ?? '';
      assert.match(master, /#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="group_A1",NAME="audio_2",DEFAULT=YES,URI="media_2.m3u8"/);
      assert.match(master, /#EXT-X-STREAM-INF:BANDWIDTH=\d+,RESOLUTION=320x180,CODECS="avc1\.[0-9a-f]+,mp4a\.40\.2",AUDIO="group_A1"\nmedia_0\.m3u8/);
      for (const r of capture.requests) assert.equal(r.headers.authorization, `Bearer ${TOKEN}`, `${r.method} ${r.path}`);

      const segments = capture.requests.filter(complete('0')).slice(1, 4);
      for (const r of segments) {
        const w = live.get(r)!;
        const seconds = w.fragments.reduce((n, f) => n + f.duration / f.timescale, 0);
        assert.equal(r.headers['transfer-encoding'], 'chunked');
        assert.ok(Math.abs(seconds - 2) < 0.01, `${r.path}: ${seconds} s of video`);
        assert.equal(w.fragments.length, 20, `${r.path}: a fragment per frame`);
        // The PUT lasts about a segment: its first chunk arrives with the first frame, its last with the last.
        const spread = r.chunks.at(-1)!.at - r.chunks[0]!.at;
        assert.ok(spread > 1400 && spread < 4000, `${r.path}: chunks over ${spread} ms`);
        assert.ok(w.aligned >= w.chunks - 2, `${r.path}: ${w.aligned} of ${w.chunks} chunks are exactly one fragment`);
        // Found while streaming = found in the finished file.
        const m = SEGMENT.exec(r.path)!;
        const initBytes = inits.get(`${m[1]}-0`)!;
        const init = parseInit(initBytes);
        assert.ok(init.ok);
        const whole = scanSegment(init.value, r.body());
        assert.deepEqual(w.fragments, whole.fragments);
        assert.equal(w.scanner.end().error, undefined);

        // Parts of 0.5 s: five frames each at 10 fps, the first independent; each byte range read back by ffprobe.
        const cut = cutParts(whole.fragments, 500, r.body().length);
        assert.deepEqual(cut.parts.map((p) => [p.fragments, p.independent]), [[5, true], [5, false], [5, false], [5, false]]);
        for (const p of cut.parts) {
          const file = join(tmp, `part-${p.index}.mp4`);
          writeFileSync(file, Buffer.concat([initBytes, r.body().subarray(p.offset, p.offset + p.length)]));
          const probe = spawnSync('ffprobe', ['-v', 'error', '-show_packets', '-show_entries', 'packet=duration,flags', '-of', 'json', file], { encoding: 'utf8' });
          const packets = (JSON.parse(probe.stdout) as { packets: { duration: number; flags: string }[] }).packets;
          assert.deepEqual(packets.map((x) => x.flags.startsWith('K')), Array.from({ length: 5 }, (_, i) => p.independent && i === 0), `part ${p.index}`);
          assert.equal(packets.reduce((n, x) => n + x.duration, 0), p.duration);
        }
      }

      // Audio: fragments of 23 AAC frames, every one a sync sample; a part each.
      const audio = capture.requests.filter(complete('2')).slice(1, 3);
      for (const r of audio) {
        const w = live.get(r)!;
        assert.ok(w.fragments.slice(0, -1).every((f) => f.sampleCount === 23 && f.startsWithSync), `${r.path}: ${w.fragments.map((f) => f.sampleCount)}`);
        assert.ok(cutParts(w.fragments, 500, r.body().length).parts.every((p) => p.fragments === 1 && p.independent));
      }

      // The playlist names the segment in progress with EXT-X-PREFETCH: the one after its last segment, whose
      // PUT ffmpeg starts right after the playlist (its request goes out with its first bytes).
      const media = [...capture.requests].reverse().find((r) => r.path === '/hls/ll/media_0.m3u8' && r.state === 'complete')!;
      const text = media.body().toString();
      assert.match(text, /#EXT-X-MAP:URI="init-\d{13}-0\.m4s"/);
      assert.match(text, /#EXTINF:2\.000000,\n#EXT-X-PROGRAM-DATE-TIME:\S+\nchunk-\d{13}-0-\d{5}\.m4s/);
      const listed = [...text.matchAll(/^chunk-\d{13}-0-(\d{5})\.m4s$/gm)].map((m) => Number(m[1]));
      const hinted = /#EXT-X-PREFETCH:(chunk-\d{13}-0-(\d{5})\.m4s)/.exec(text)!;
      assert.equal(Number(hinted[2]), Math.max(...listed) + 1);
      const hintedPut = await capture.waitFor((r) => r.path === `/hls/ll/${hinted[1]}`, 5000, 'the hinted segment');
      assert.ok(Math.abs(hintedPut.startedAt - media.endedAt!) < 1000, `hinted PUT ${hintedPut.startedAt - media.endedAt!} ms after the playlist`);

      // Restart: the new ffmpeg counts from 1 again, under new names.
      const before = new Set(capture.requests.filter((r) => SEGMENT.test(r.path)).map((r) => r.path));
      const oldPid = transcoder.pid!;
      process.kill(oldPid, 'SIGKILL');
      const killedAt = Date.now();
      const after = await capture.waitFor((r) => r.startedAt > killedAt && complete('0')(r), 40_000, 'a segment after the restart');
      assert.notEqual(transcoder.pid, oldPid);
      assert.match(after.path, /-00001\.m4s$/);
      assert.ok(!before.has(after.path), `${after.path} was used before the restart`);
      const runs = new Set(capture.requests.map((r) => /-(\d{13})-/.exec(r.path)?.[1]).filter(Boolean));
      assert.equal(runs.size, 2);
    } catch (err) {
      console.error(logs.slice(-30).join('\n'));
      throw err;
    }
  });
});
