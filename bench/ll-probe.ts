// What the transcoder's low-latency ffmpeg uploads, measured: runs the transcoder's own command line
// (transcodeArgs with lowLatency, built-in test pattern) against an upload capture server and prints what
// arrived, how each segment's PUT streamed, and how long a frame takes from capture to the server.
// docs/low-latency.md quotes its output. Not a test (no assertions); a tool:
//
//   node --import tsx bench/ll-probe.ts [--seconds 14] [--ladder 360p,240p] [--fps 30] [--preset veryfast]
//     [--drop -tune]... [--restart-after 7] [--stop-signal SIGKILL] [--playlists] [-- extra muxer options]
//
// Options after `--` go to the muxer (before the output URL; a later option wins over the transcoder's).
// "Capture" of a frame is when ffmpeg read it from the lavfi test pattern (-re paces it in real time):
// the `demuxer ->` line of -debug_ts, timestamped as it reaches this process. A frame "arrived" when the
// last byte of its fragment reached the capture server.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FragmentScanner, parseInit, type Fragment, type InitSegment } from '../src/cmaf.js';
import { parseOptions, type OptionsSpec } from '../src/options.js';
import { parseLadder, shellLine, spawnChild, transcodeArgs, type SpawnedChild } from '../transcoder/index.js';
import { startUploadCapture, wallMs, type CapturedRequest } from '../test/helpers/upload-capture.js';

const SPEC = {
  seconds: { type: 'number', default: 14, help: 'how long ffmpeg runs (each run, with --restart-after)' },
  ladder: { type: 'string', default: '360p,240p', help: 'renditions' },
  fps: { type: 'int', default: 30, help: 'frame rate' },
  size: { type: 'string', default: '640x360', help: 'test pattern size' },
  preset: { type: 'string', default: 'veryfast', help: 'x264 preset' },
  'audio-bitrate': { type: 'int', default: 96, help: 'AAC kbit/s' },
  'hls-time': { type: 'int', default: 2, help: 'segment duration, s' },
  'list-size': { type: 'int', default: 3, help: 'window_size' },
  drop: { type: 'string', repeat: true, help: "remove a transcoder option and its value (e.g. '-tune')" },
  'restart-after': { type: 'number', help: 'stop ffmpeg after this many seconds and start it again' },
  'stop-signal': { type: 'string', default: 'SIGTERM', choices: ['SIGTERM', 'SIGKILL', 'SIGINT'], help: 'how ffmpeg is stopped' },
  playlists: { type: 'bool', default: false, help: 'print the first versions of media_0.m3u8 and the master' },
} as const satisfies OptionsSpec;

const { options: o, positionals: extra } = parseOptions(SPEC, process.argv.slice(2), {});
const capture = await startUploadCapture();
const stream = 'probe';
const t0 = wallMs();
const rel = (t: number) => ((t - t0) / 1000).toFixed(3);

/** Input video frame number (lavfi's time base is 1/fps) -> wall-clock ms when ffmpeg read it; per run. */
const captured: Map<number, number>[] = [];
const frameAt = (seconds: number) => Math.round(seconds * o.fps);

function buildArgs(): string[] {
  let args = transcodeArgs({
    origin: capture.url, stream, input: 'testsrc', testSize: o.size, ladder: parseLadder(o.ladder), fps: o.fps, preset: o.preset,
    audioKbps: o['audio-bitrate'], hlsTime: o['hls-time'], listSize: o['list-size'], lowLatency: true, logLevel: 'info', startedAt: Date.now(),
  });
  for (const opt of o.drop) {
    const i = args.indexOf(opt);
    if (i === -1) throw new Error(`--drop ${opt}: not in the command line`);
    args = [...args.slice(0, i), ...args.slice(i + 2)];
  }
  return ['-debug_ts', ...args.slice(0, -1), ...extra, args.at(-1)!];
}

async function run(seconds: number): Promise<void> {
  const args = buildArgs();
  const times = new Map<number, number>();
  captured.push(times);
  console.log(`\n$ ${shellLine('ffmpeg', args)}\n`);
  const child: SpawnedChild = spawnChild('ffmpeg', args, {
    onStderr: (line) => {
      const m = /^demuxer -> ist_index:0 type:video .* pkt_pts:(\d+) /.exec(line);
      if (m) times.set(Number(m[1]), wallMs());
      else if (process.env.PROBE_VERBOSE || /error|fail|invalid|ignored|not |warn/i.test(line) && !/-> |<- /.test(line)) console.log(`  [ffmpeg] ${line}`);
    },
  });
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const stopAt = wallMs();
  try { process.kill(child.pid, o['stop-signal'] as NodeJS.Signals); } catch { /* it exited by itself */ }
  const exit = await child.exited;
  console.log(`  ffmpeg stopped with ${o['stop-signal']} at ${rel(stopAt)} s: ${exit.signal ?? `exit ${exit.code}`}`);
  await new Promise((r) => setTimeout(r, 300));
}

/** Per segment upload: its scanner and when each fragment completed. */
interface SegmentWatch {
  scanner?: FragmentScanner;
  fragments: { f: Fragment; completedAt: number }[];
  alignedChunks: number;
}
const inits = new Map<string, InitSegment>();
const initBytes = new Map<string, Buffer>();
const watches = new Map<CapturedRequest, SegmentWatch>();
const SEGMENT = /\/chunk-(\d+)-(\d+)-(\d+)\.m4s$/;
const INIT = /\/init-(\d+)-(\d+)\.m4s$/;

capture.onEvent((event, r) => {
  const init = INIT.exec(r.path);
  if (init && event === 'end' && r.state === 'complete') {
    const parsed = parseInit(r.body());
    if (parsed.ok) inits.set(`${init[1]}-${init[2]}`, parsed.value);
    initBytes.set(`${init[1]}-${init[2]}`, r.body());
    return;
  }
  const seg = SEGMENT.exec(r.path);
  if (!seg || r.method !== 'PUT' || event !== 'chunk') return;
  let w = watches.get(r);
  if (!w) watches.set(r, (w = { fragments: [], alignedChunks: 0 }));
  const initSeg = inits.get(`${seg[1]}-${seg[2]}`);
  if (!initSeg) return;
  w.scanner ??= new FragmentScanner(initSeg);
  const chunk = r.chunks.at(-1)!;
  const { fragments } = w.scanner.push(chunk.bytes);
  for (const f of fragments) w.fragments.push({ f, completedAt: chunk.at });
  const last = fragments.at(-1);
  if (fragments.length === 1 && last && last.offset + last.length === chunk.offset + chunk.bytes.length && (last.offset === chunk.offset || last.offset === 0)) w.alignedChunks++;
});

const runs = o['restart-after'] !== undefined ? [o['restart-after'], o.seconds] : [o.seconds];
for (const s of runs) await run(s);
await capture.close();

// ---- report ----------------------------------------------------------------------------------------
const q = (a: number[], p: number) => {
  if (a.length === 0) return NaN;
  const b = [...a].sort((x, y) => x - y);
  return b[Math.min(b.length - 1, Math.floor(p * b.length))]!;
};
const stats = (a: number[], digits = 0) => (a.length ? `median ${q(a, 0.5).toFixed(digits)}, p95 ${q(a, 0.95).toFixed(digits)}, min ${q(a, 0).toFixed(digits)}, max ${q(a, 1).toFixed(digits)} (n=${a.length})` : 'none');
const reqs = capture.requests;
const name = (r: CapturedRequest) => r.path.replace(`/hls/${stream}/`, '');

console.log('\n== requests by kind');
const kinds = new Map<string, CapturedRequest[]>();
for (const r of reqs) {
  const k = `${r.method} ${name(r).replace(/\d{13}/, '<start>').replace(/-\d+-\d{5}\./, '-<n>-<k>.').replace(/-\d+\.m4s/, '-<n>.m4s').replace(/_\d+\.m3u8/, '_<n>.m3u8')}`;
  kinds.set(k, [...(kinds.get(k) ?? []), r]);
}
for (const [k, rs] of kinds) {
  const dur = rs.filter((r) => r.endedAt).map((r) => r.endedAt! - r.startedAt);
  const aborted = rs.filter((r) => r.state === 'aborted').length;
  console.log(`  ${k.padEnd(40)} ${String(rs.length).padStart(4)}${aborted ? ` (${aborted} aborted)` : ''}  request ${stats(dur)} ms`);
}
console.log(`  headers of a segment PUT: ${JSON.stringify(reqs.find((r) => SEGMENT.test(r.path))?.headers ?? {})}`);

console.log('\n== segment uploads per representation (complete ones)');
const byRep = new Map<string, [CapturedRequest, SegmentWatch][]>();
for (const [r, w] of watches) {
  if (r.state !== 'complete') continue;
  const m = SEGMENT.exec(r.path)!;
  byRep.set(m[2]!, [...(byRep.get(m[2]!) ?? []), [r, w]]);
}
const tmp = mkdtempSync(join(tmpdir(), 'll-probe-'));
for (const [rep, list] of [...byRep].sort()) {
  const full = list.filter(([, w]) => w.fragments.length > 0);
  const handler = inits.get([...inits.keys()].find((k) => k.endsWith(`-${rep}`))!)?.tracks[0]?.handler;
  const chunks = full.map(([r]) => r.chunks.length);
  const frags = full.map(([, w]) => w.fragments.length);
  const aligned = full.reduce((n, [, w]) => n + w.alignedChunks, 0);
  const allChunks = full.reduce((n, [r]) => n + r.chunks.length - 1, 0);
  const putMs = full.map(([r]) => r.endedAt! - r.startedAt);
  const firstToLast = full.map(([r]) => r.chunks.at(-1)!.at - r.chunks[0]!.at);
  const lastToEnd = full.map(([r, w]) => r.endedAt! - w.fragments.at(-1)!.completedAt);
  const bytes = full.reduce((n, [r]) => n + r.body().length, 0);
  const seconds = full.reduce((n, [, w]) => n + w.fragments.reduce((d, x) => d + x.f.duration / x.f.timescale, 0), 0);
  console.log(`  representation ${rep} (${handler}): ${full.length} segments, ${stats(chunks)} chunks, ${stats(frags)} fragments per segment`);
  const fragMs = full.flatMap(([, w]) => w.fragments.map((x) => (x.f.duration / x.f.timescale) * 1000));
  console.log(`    fragment duration: ${stats(fragMs, 1)} ms; first sample a sync sample in ${full.reduce((n, [, w]) => n + w.fragments.filter((x) => x.f.startsWithSync).length, 0)} of ${fragMs.length}`);
  console.log(`    chunks that are exactly one fragment (the first chunk, styp, aside): ${aligned}/${allChunks}`);
  console.log(`    PUT open for ${stats(putMs)} ms; first to last chunk ${stats(firstToLast)} ms; ${(bytes * 8 / seconds / 1000).toFixed(1)} kbit/s`);
  console.log(`    last fragment -> end of the PUT: ${stats(lastToEnd)} ms`);

  // Per frame: capture -> arrival, and what PDT says; container overhead from ffprobe's packet sizes.
  const latencies: number[] = [];
  const pdtLatencies: number[] = [];
  const pdtErrors: number[] = [];
  /** Per segment, against the true capture of its first frame: ffmpeg's PDT, the first fragment's prft, its arrival. */
  const firstFrame = { pdt: [] as number[], prft: [] as number[], arrival: [] as number[] };
  let overhead = 0;
  let payload = 0;
  let packets = 0;
  let unmatched = 0;
  for (const [r, w] of full) {
    const m = SEGMENT.exec(r.path)!;
    const runIndex = [...new Set([...watches.keys()].map((x) => SEGMENT.exec(x.path)![1]))].sort().indexOf(m[1]!);
    const init = initBytes.get(`${m[1]}-${rep}`);
    if (!init) continue;
    const file = join(tmp, 'seg.mp4');
    writeFileSync(file, Buffer.concat([init, r.body()]));
    const probe = spawnSync('ffprobe', ['-v', 'error', '-show_packets', '-show_entries', 'packet=pts_time,pos,size', '-of', 'json', file], { encoding: 'utf8' });
    const pkts = (JSON.parse(probe.stdout || '{}') as { packets?: { pts_time: string; pos: string; size: string }[] }).packets ?? [];
    const size = pkts.reduce((n, p) => n + Number(p.size), 0);
    overhead += r.body().length - size;
    payload += size;
    packets += pkts.length;
    if (handler !== 'vide') continue;
    const playlist = [...reqs].reverse().find((x) => x.path.endsWith(`/media_${rep}.m3u8`) && x.body().includes(name(r)) && x.startedAt > r.startedAt);
    const pdtMatch = playlist && new RegExp(`#EXT-X-PROGRAM-DATE-TIME:(\\S+)\\n${name(r).replace(/\./g, '\\.')}`).exec(playlist.body().toString());
    const pdt = pdtMatch ? Date.parse(pdtMatch[1]!.replace(/\+0000$/, 'Z')) : undefined;
    const segStart = Math.min(...pkts.map((p) => Number(p.pts_time)));
    const firstCapture = captured[runIndex]?.get(frameAt(segStart));
    const first = w.fragments[0];
    if (firstCapture !== undefined && first) {
      if (pdt !== undefined) firstFrame.pdt.push(pdt - firstCapture);
      if (first.f.producerTime) firstFrame.prft.push(first.f.producerTime.wallClockMs - firstCapture);
      firstFrame.arrival.push(first.completedAt - firstCapture);
    }
    for (const p of pkts) {
      const at = Number(p.pos) - init.length;
      const frag = w.fragments.find((x) => at >= x.f.offset && at < x.f.offset + x.f.length);
      const capturedAt = captured[runIndex]?.get(frameAt(Number(p.pts_time)));
      if (!frag || capturedAt === undefined) { unmatched++; continue; }
      latencies.push(frag.completedAt - capturedAt);
      if (pdt !== undefined) {
        const pdtCapture = pdt + (Number(p.pts_time) - segStart) * 1000;
        pdtLatencies.push(frag.completedAt - pdtCapture);
        pdtErrors.push(pdtCapture - capturedAt);
      }
    }
  }
  console.log(`    container overhead: ${packets ? (overhead / packets).toFixed(0) : '-'} bytes per frame (${payload ? ((overhead / payload) * 100).toFixed(1) : '-'}% of the media bytes)`);
  if (handler === 'vide') {
    console.log(`    capture -> bytes at the server: ${stats(latencies)} ms${unmatched ? ` (${unmatched} frames unmatched)` : ''}`);
    console.log(`    the same from EXT-X-PROGRAM-DATE-TIME: ${stats(pdtLatencies)} ms; PDT minus true capture: ${stats(pdtErrors)} ms`);
    console.log(`    a segment's first frame, minus its true capture: ffmpeg's PDT ${stats(firstFrame.pdt)} ms; prft ${stats(firstFrame.prft)} ms; arrival ${stats(firstFrame.arrival)} ms`);
  }
}
rmSync(tmp, { recursive: true, force: true });

console.log('\n== #EXT-X-PREFETCH: playlist naming a segment in progress, after that segment\'s PUT started');
const hintDelays: number[] = [];
for (const r of reqs.filter((x) => /media_\d+\.m3u8$/.test(x.path) && x.state === 'complete')) {
  const hint = /#EXT-X-PREFETCH:(\S+)/.exec(r.body().toString())?.[1];
  const seg = hint && reqs.find((x) => x.path.endsWith(`/${hint}`));
  if (seg) hintDelays.push(r.endedAt! - seg.startedAt);
}
console.log(`  ${stats(hintDelays)} ms`);

const deletes = reqs.filter((r) => r.method === 'DELETE');
console.log(`\n== DELETE: ${deletes.length}${deletes.length ? `, first at ${rel(deletes[0]!.startedAt)} s: ${deletes.slice(0, 6).map(name).join(', ')}` : ''}`);

if (o.playlists) {
  const show = (file: string, n: number) => {
    for (const r of reqs.filter((x) => x.path.endsWith(`/${file}`)).slice(0, n)) console.log(`\n-- ${file} at ${rel(r.startedAt)} s\n${r.body().toString().trimEnd()}`);
  };
  show('index.m3u8', 1);
  show('media_0.m3u8', 3);
  const last = [...reqs].reverse().find((x) => x.path.endsWith('/media_0.m3u8'));
  if (last) console.log(`\n-- last media_0.m3u8 at ${rel(last.startedAt)} s\n${last.body().toString().trimEnd()}`);
}
if (runs.length > 1) {
  console.log('\n== names per run (init, first and last segment of representation 0)');
  for (const start of [...new Set(reqs.map((r) => /-(\d{13})-/.exec(r.path)?.[1]).filter(Boolean))]) {
    const mine = reqs.filter((r) => r.path.includes(`-${start}-0`)).map(name);
    console.log(`  ${mine[0]} ${mine[1]} ... ${mine.at(-1)}`);
  }
}
