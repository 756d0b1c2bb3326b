// Real ffmpeg in the transcoder's low-latency mode (the dash muxer, a chunked PUT per segment, a fragment per
// video frame) uploading to a real origin over HTTP, followed as an LL player follows it: blocking reloads
// for the next part, every part fetched as soon as it is published (while its segment is still being
// written), the preload-hinted part requested before it exists. Every part's bytes are then its byte range
// of the finished segment, ffprobe reads init + part with the key frames and durations the playlist
// announces, and a SIGKILLed ffmpeg mid-segment withdraws the unfinished parts and opens a discontinuity
// without any part URI changing its bytes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listen } from '../src/serve.js';
import { createOrigin } from '../origin/index.js';
import { parseLadder, startTranscoder } from '../transcoder/index.js';
import { listing, tags, type Listing as Listed } from './helpers/ll-listing.js';
import { lowLatencyViolations, playlistViolations } from './helpers/playlist-rules.js';

describe('origin: LL-HLS from real ffmpeg (cascade transcode --low-latency)', () => {
  it('parts are the byte ranges of the finished segments, ffprobe reads them, a SIGKILL mid-segment withdraws the unfinished parts', { timeout: 180_000 }, async (t) => {
    const origin = await createOrigin({ partTargetMs: 500 });
    const l = await listen(origin.app, { port: 0, host: '127.0.0.1' });
    const logs: string[] = [];
    const transcoder = startTranscoder({
      origin: l.url, stream: 'll', input: 'testsrc', testSize: '256x144', ladder: parseLadder('144p'), fps: 10, preset: 'ultrafast',
      audioKbps: 48, hlsTime: 1, lowLatency: true, listSize: 4, partTargetMs: 500, minBackoffMs: 200, onLog: (line) => logs.push(line),
    });
    const tmp = mkdtempSync(join(tmpdir(), 'origin-ll-ffmpeg-'));
    t.after(async () => {
      await transcoder.stop();
      await origin.close();
      await l.close();
      rmSync(tmp, { recursive: true, force: true });
    });
    const url = (uri: string) => `${l.url}/hls/ll/${uri}`;

    /** Every part (and the init sections) fetched, by URI: fetched again later, it must have the same bytes. */
    const got = new Map<string, Buffer>();
    const fetchBytes = async (uri: string): Promise<Buffer> => {
      const res = await fetch(url(uri));
      assert.equal(res.status, 200, `${uri}: ${res.status}`);
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(body.length, Number(res.headers.get('content-length')), `${uri}: a whole body`);
      const before = got.get(uri);
      if (before) assert.deepEqual(body, before, `${uri} changed its bytes`);
      got.set(uri, body);
      return body;
    };
    const versions: Listed[] = [];
    /** Hinted parts requested before they existed, with what they answered. */
    const hinted: Promise<{ uri: string; status: number; body?: Buffer; cut?: boolean }>[] = [];
    const requestHint = (uri: string) => hinted.push(fetch(url(uri)).then(
      async (res) => {
        try { return { uri, status: res.status, body: Buffer.from(await res.arrayBuffer()) }; } catch { return { uri, status: res.status, cut: true }; }
      },
      () => ({ uri, status: 0, cut: true }),
    ));

    /** Follows media_0.m3u8 with blocking reloads for the next part until `done` holds; fetches each new part at once. */
    const follow = async (done: (pl: Listed) => boolean, what: string, ms = 60_000): Promise<Listed> => {
      const deadline = Date.now() + ms;
      let query = '';
      for (;;) {
        assert.ok(Date.now() < deadline, `timed out waiting for ${what}\n${logs.slice(-20).join('\n')}`);
        const res = await fetch(url(`media_0.m3u8${query}`));
        if (res.status === 404 || res.status === 503) {
          await res.arrayBuffer();
          await new Promise((r) => setTimeout(r, 100));
          query = '';
          continue;
        }
        assert.equal(res.status, 200, `${query}: ${res.status}`);
        const body = await res.text();
        assert.deepEqual([...playlistViolations(body, 'media_0.m3u8'), ...lowLatencyViolations(body)], [], body);
        const pl = listing(body);
        versions.push(pl);
        if (pl.map !== undefined && !got.has(pl.map)) await fetchBytes(pl.map);
        for (const p of [...pl.segments.flatMap((s) => s.parts), ...pl.partial]) if (!got.has(p.URI!)) await fetchBytes(p.URI!);
        if (pl.hint !== undefined && !got.has(pl.hint) && !hinted.length) requestHint(pl.hint);
        if (done(pl)) return pl;
        const last = pl.mediaSequence + pl.segments.length - 1;
        query = pl.partial.length > 0 ? `?_HLS_msn=${last + 1}&_HLS_part=${pl.partial.length}` : pl.hint !== undefined ? `?_HLS_msn=${last + 1}&_HLS_part=0` : '';
      }
    };

    // Three segments listed with their parts, every part of them fetched while its segment was written.
    const withParts = (pl: Listed) => pl.segments.filter((s) => s.parts.length > 0 && s.parts.every((p) => got.has(p.URI!)));
    const first = await follow((pl) => withParts(pl).length >= 3, 'three segments with parts');
    assert.ok(first.segments.length >= 3);
    const media = await (await fetch(url('media_0.m3u8'))).text();
    assert.deepEqual(tags(media, 'EXT-X-SERVER-CONTROL'), [{ 'CAN-BLOCK-RELOAD': 'YES', 'PART-HOLD-BACK': '1.5', 'CAN-SKIP-UNTIL': '6' }]);
    assert.deepEqual(tags(media, 'EXT-X-PART-INF'), [{ 'PART-TARGET': '0.5' }]);
    assert.deepEqual(tags(media, 'EXT-X-RENDITION-REPORT').map((r) => r.URI), ['media_1.m3u8'], 'the audio rendition is reported');
    assert.match(await (await fetch(url('media_1.m3u8'))).text(), /#EXT-X-PART:DURATION=0\.49\d*,URI="[^"]+\.p0\.m4s",INDEPENDENT=YES/);

    const init = got.get(first.map!)!;
    for (const seg of withParts(first)) {
      const whole = Buffer.from(await (await fetch(url(seg.uri))).arrayBuffer());
      let offset = 0;
      for (const [i, p] of seg.parts.entries()) {
        assert.equal(p.URI, seg.uri.replace(/\.m4s$/, `.p${i}.m4s`), 'named after the published segment');
        const part = got.get(p.URI!)!;
        assert.deepEqual(part, whole.subarray(offset, offset + part.length), `${p.URI} is bytes ${offset}.. of ${seg.uri}`);
        offset += part.length;
        // ffprobe reads init + part: five frames of 0.1 s, a key frame first exactly when INDEPENDENT=YES.
        const file = join(tmp, 'part.mp4');
        writeFileSync(file, Buffer.concat([init, part]));
        const probe = spawnSync('ffprobe', ['-v', 'error', '-show_packets', '-show_entries', 'packet=duration_time,flags', '-of', 'json', file], { encoding: 'utf8' });
        assert.equal(probe.status, 0, probe.stderr);
        const packets = (JSON.parse(probe.stdout) as { packets: { duration_time: string; flags: string }[] }).packets;
        assert.deepEqual(packets.map((x) => x.flags.startsWith('K')), packets.map((_, k) => k === 0 && p.INDEPENDENT === 'YES'), `${p.URI} key frames`);
        assert.equal(p.INDEPENDENT, i === 0 ? 'YES' : undefined, 'GOP = segment: only a segment\'s first part is independent');
        const seconds = packets.reduce((n, x) => n + Number(x.duration_time), 0);
        assert.ok(Math.abs(seconds - Number(p.DURATION)) < 0.001, `${p.URI}: ${seconds} s, DURATION=${p.DURATION}`);
      }
      assert.equal(offset, whole.length, `the parts of ${seg.uri} tile it`);
    }
    // The hinted part asked for before it existed came whole, with the bytes it was published with.
    const early = await hinted[0]!;
    assert.equal(early.status, 200);
    assert.deepEqual(early.body, got.get(early.uri));

    // SIGKILL with part 0 of a segment published and part 1 on its way.
    const mid = await follow((pl) => pl.partial.length === 1, 'part 0 of a segment in progress');
    const withdrawn = mid.partial[0]!.URI!;
    const hintAtKill = fetch(url(mid.hint!)).then(async (res) => { await res.arrayBuffer(); return 'whole'; }, () => 'cut');
    const oldPid = transcoder.pid!;
    process.kill(oldPid, 'SIGKILL');
    const partialMsn = mid.mediaSequence + mid.segments.length;
    const after = await follow((pl) => {
      const at = pl.segments.findIndex((s) => s.discontinuity);
      return at >= 0 && pl.segments.slice(at).filter((s) => s.parts.length > 0).length >= 1;
    }, 'a segment with parts after the restart');
    assert.notEqual(transcoder.pid, oldPid);
    const stem = withdrawn.replace(/\.p0\.m4s$/, '');
    const listed = after.segments.find((s) => s.uri.startsWith(stem));
    if ((await hintAtKill) === 'cut') {
      // The killed segment never completed: its parts are gone from the playlist, and the new epoch starts
      // after the number they were listed under.
      assert.ok(listed === undefined && after.segments.every((s) => s.parts.every((p) => !p.URI!.startsWith(stem))),
        `unfinished parts of ${stem} withdrawn: ${JSON.stringify(after.segments.map((s) => [s.uri, s.parts.length]))}`);
      assert.ok(after.mediaSequence + after.segments.findIndex((s) => s.discontinuity) > partialMsn - 1, 'the new epoch starts after the partial\'s number');
    } else {
      // On a loaded machine the kill can come after ffmpeg sent the segment's last bytes: then it is complete
      // (never a short body), and if it is listed, with its parts.
      console.log(`# SIGKILL came after ${stem} was complete`);
      if (listed) assert.ok(listed.parts.length > 0 && listed.parts[0]!.URI === withdrawn);
    }
    // Published parts keep their bytes (the withdrawn one too, for the grace period), whatever the restart did.
    for (const uri of [...got.keys()]) await fetchBytes(uri);
    // Media sequence numbers never went back across every version the follower saw.
    const sequences = versions.map((v) => v.mediaSequence);
    assert.deepEqual(sequences, [...sequences].sort((a, b) => a - b));
  });
});
