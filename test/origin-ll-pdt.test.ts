// EXT-X-PROGRAM-DATE-TIME of a low-latency rendition from real ffmpeg (`cascade transcode --low-latency`,
// which writes a `prft` before every fragment) through a real origin over HTTP: a segment cut into parts is
// dated by its first fragment's `prft`, so its PDT comes a little before the origin received that fragment
// (the muxer's clock at the fragment, then the upload), no longer after it as the muxer's own PDT can be
// (docs/low-latency.md, "PROGRAM-DATE-TIME"); and PDT only goes forward.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseInit, scanSegment, type Fragment } from '../src/cmaf.js';
import { listen, type FetchApp } from '../src/serve.js';
import { createOrigin } from '../origin/index.js';
import { parseLadder, startTranscoder } from '../transcoder/index.js';
import { listing } from './helpers/ll-listing.js';

/** An app that notes, per segment upload, when the origin read the first byte after its `styp`: its first fragment's. */
function timingFirstFragments(app: FetchApp, at: Map<string, number>): FetchApp {
  return {
    fetch: (req: Request, env: unknown) => {
      const name = /\/(chunk-[^/]+\.m4s)$/.exec(new URL(req.url).pathname)?.[1];
      if (req.method !== 'PUT' || name === undefined || req.body === null) return app.fetch(req, env);
      let head = Buffer.alloc(0);
      let seen = 0;
      const body = req.body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, out) {
          if (head.length < 4) head = Buffer.concat([head, chunk.subarray(0, 4 - head.length)]);
          seen += chunk.length;
          if (!at.has(name) && head.length === 4 && seen > head.readUInt32BE(0)) at.set(name, Date.now());
          out.enqueue(chunk);
        },
      }));
      return app.fetch(new Request(req, { body, duplex: 'half' } as RequestInit), env);
    },
  };
}

describe('origin: LL-HLS PDT from real ffmpeg', () => {
  it('a segment with parts is dated by its first fragment\'s prft: 0-1.5 s before the origin received that fragment, and PDT goes forward', { timeout: 120_000 }, async (t) => {
    const origin = await createOrigin({ partTargetMs: 500 });
    const firstFragmentAt = new Map<string, number>();
    const l = await listen(timingFirstFragments(origin.app, firstFragmentAt), { port: 0, host: '127.0.0.1' });
    const logs: string[] = [];
    const transcoder = startTranscoder({
      origin: l.url, stream: 'pdt', input: 'testsrc', testSize: '256x144', ladder: parseLadder('144p'), fps: 10, preset: 'ultrafast',
      audioKbps: 48, hlsTime: 1, lowLatency: true, listSize: 6, partTargetMs: 500, minBackoffMs: 200, onLog: (line) => logs.push(line),
    });
    t.after(async () => {
      await transcoder.stop();
      await origin.close();
      await l.close();
    });

    // Polls (bounded) until five segments were seen listed with their parts (only the last three target
    // durations list parts), keeping each segment's PDT: a segment keeps its PDT from one version to the next.
    const seen = new Map<string, { pdt: number; parts: boolean }>();
    let text = '';
    for (const deadline = Date.now() + 60_000; [...seen.values()].filter((s) => s.parts).length < 5;) {
      assert.ok(Date.now() < deadline, `timed out:\n${text}\n${logs.slice(-20).join('\n')}`);
      const res = await fetch(`${l.url}/hls/pdt/media_0.m3u8`);
      text = await res.text();
      if (res.status !== 200) continue;
      let pdt = Number.NaN;
      let parts = false;
      for (const line of text.split('\n')) {
        if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) pdt = Date.parse(line.slice('#EXT-X-PROGRAM-DATE-TIME:'.length));
        else if (line.startsWith('#EXT-X-PART:')) parts = true;
        else if (line !== '' && !line.startsWith('#')) {
          const before = seen.get(line);
          if (before) assert.ok(Object.is(before.pdt, pdt), `${line} kept its PDT`);
          seen.set(line, { pdt, parts: parts || (before?.parts ?? false) });
          pdt = Number.NaN;
          parts = false;
        }
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    const segments = [...seen].map(([uri, s]) => ({ uri, ...s }));
    const dated = segments.filter((s) => s.parts);
    assert.ok(dated.every((s) => Number.isFinite(s.pdt)), text);
    const init = parseInit(Buffer.from(await (await fetch(`${l.url}/hls/pdt/${listing(text).map!}`)).arrayBuffer()));
    assert.ok(init.ok);
    const leads: number[] = [];
    for (const s of dated) {
      // The PDT is the prft of the segment's first fragment (its media time is that fragment's decode time), to the ms.
      const res = await fetch(`${l.url}/hls/pdt/${s.uri}`);
      if (res.status === 404) continue; // it left the window (and its grace period) meanwhile
      const first: Fragment = scanSegment(init.value, Buffer.from(await res.arrayBuffer())).fragments[0]!;
      assert.equal(first.producerTime?.mediaTime, first.decodeTime);
      assert.equal(new Date(s.pdt).toISOString(), new Date(Math.floor(first.producerTime!.wallClockMs + 0.0005)).toISOString(), s.uri);
      // Published `chunk-<start>-0-00003.<tag>.m4s` is the upload `chunk-<start>-0-00003.m4s`.
      const upload = s.uri.replace(/^(chunk-\d+-\d+-\d{5})\..*\.m4s$/, '$1.m4s');
      const at = firstFragmentAt.get(upload);
      assert.ok(at !== undefined, `${upload} was uploaded`);
      leads.push(at - s.pdt);
    }
    console.log(`# first fragment at the origin minus PDT, per segment: ${leads.join(', ')} ms`);
    for (const lead of leads) assert.ok(lead >= 0 && lead <= 1500, `PDT ${lead} ms before its first fragment reached the origin: ${leads.join(', ')}\n${text}`);
    const pdts = segments.map((s) => s.pdt).filter(Number.isFinite);
    for (let i = 1; i < pdts.length; i++) assert.ok(pdts[i]! > pdts[i - 1]!, `PDT goes forward: ${pdts.map((x) => new Date(x).toISOString()).join(', ')}`);
  });
});
