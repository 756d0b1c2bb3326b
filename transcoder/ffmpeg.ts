// The ffmpeg command lines of the pipeline, as pure functions (no processes here):
//  - the transcoder: takes a pushed stream (RTMP or SRT listener, any ffmpeg input, or a generated test
//    pattern) and uploads an ABR ladder of HLS renditions to the origin with HTTP PUT;
//  - the test source: testsrc2 + a tone with a burnt-in clock, pushed to the ingest like OBS would.
import { existsSync } from 'node:fs';
import { hostPortUrl } from '../src/url.js';

export interface Rendition {
  /** Variant name, used in file names: `<name>.m3u8`, `<name>_<n>.ts`. */
  name: string;
  width: number;
  height: number;
  /** Video bitrate in kbit/s. */
  videoKbps: number;
}

/** Named ladder rungs (16:9, even sizes). */
export const RENDITION_PRESETS: Record<string, Rendition> = {
  '1080p': { name: '1080p', width: 1920, height: 1080, videoKbps: 5000 },
  '720p': { name: '720p', width: 1280, height: 720, videoKbps: 2800 },
  '480p': { name: '480p', width: 854, height: 480, videoKbps: 1400 },
  '360p': { name: '360p', width: 640, height: 360, videoKbps: 800 },
  '240p': { name: '240p', width: 426, height: 240, videoKbps: 400 },
  '180p': { name: '180p', width: 320, height: 180, videoKbps: 250 },
  '144p': { name: '144p', width: 256, height: 144, videoKbps: 150 },
};

export const DEFAULT_LADDER = '720p,480p,360p';
/** The x264 presets the commands offer (slower ones cannot keep up with live input on ordinary machines). */
export const X264_PRESETS = ['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium'] as const;
/** Segment duration (s) when none is given. */
export const DEFAULT_HLS_TIME = 2;

/**
 * Parses a ladder: comma-separated preset names (`720p,480p,360p`) or custom rungs
 * `name=WIDTHxHEIGHT@KBPS` (e.g. `sd=640x360@700`). Throws on anything else.
 */
export function parseLadder(text: string): Rendition[] {
  const rungs = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (rungs.length === 0) throw new Error('the ladder is empty');
  const out = rungs.map((rung) => {
    const preset = RENDITION_PRESETS[rung];
    if (preset) return { ...preset };
    const m = /^([A-Za-z0-9_-]{1,32})=(\d{2,5})x(\d{2,5})@(\d{2,6})k?$/.exec(rung);
    if (!m) throw new Error(`bad ladder rung '${rung}' (use ${Object.keys(RENDITION_PRESETS).join('|')} or name=WxH@kbps)`);
    const [width, height] = [Number(m[2]), Number(m[3])];
    if (width % 2 || height % 2) throw new Error(`ladder rung '${rung}': width and height must be even (H.264 4:2:0)`);
    return { name: m[1]!, width, height, videoKbps: Number(m[4]) };
  });
  const names = new Set(out.map((r) => r.name));
  if (names.size !== out.length) throw new Error(`ladder '${text}' names a rung twice`);
  return out;
}

export type InputKind = 'rtmp' | 'srt' | 'testsrc' | 'url';

export interface TranscodeOptions {
  /** Origin base URL, e.g. http://127.0.0.1:8090 */
  origin: string;
  stream: string;
  uploadToken?: string | undefined;
  /** What to read: an RTMP or SRT listener, a generated test pattern, or any ffmpeg input URL. */
  input: InputKind;
  inputUrl?: string | undefined;
  /** Address the RTMP/SRT listener binds (0.0.0.0 in a container). */
  listenHost?: string;
  rtmpPort?: number;
  /** RTMP application name: the listener takes rtmp://host:port/<app>/<stream>. */
  rtmpApp?: string;
  srtPort?: number;
  /** SRT receiver latency in ms. */
  srtLatencyMs?: number;
  ladder: Rendition[];
  /** Output frame rate (the source's when unset). Also sets the keyframe interval with hlsTime. */
  fps?: number | undefined;
  /** x264 preset (ultrafast..veryslow). */
  preset?: string;
  audioKbps?: number;
  /** Segment duration in seconds. */
  hlsTime?: number;
  /** Segments listed in each media playlist. */
  listSize?: number;
  segmentType?: 'ts' | 'fmp4';
  programDateTime?: boolean;
  /** Send DELETE for segments that left the playlist. */
  deleteSegments?: boolean;
  /**
   * First media sequence / segment number: `epoch` (seconds since 1970, so a restarted encoder keeps
   * counting up and never reuses a name) or `zero` (ffmpeg's default; names restart at 0).
   */
  startNumber?: 'epoch' | 'zero';
  /** Re-upload the master playlist every this many segments (so an origin that lost it gets it back). */
  masterPublishRate?: number;
  /** ffmpeg -loglevel. */
  logLevel?: string;
  /** Test pattern (input `testsrc`) size. */
  testSize?: string;
  /**
   * Low-latency mode: fMP4/CMAF segments PUT while they are written, one fragment per frame, through
   * ffmpeg's dash muxer (docs/low-latency.md has the measurements behind every choice here).
   */
  lowLatency?: boolean;
  /** LL part target in ms: the origin cuts parts of at most this from the fragments (default 500). */
  partTargetMs?: number;
  /** Wall-clock ms when this ffmpeg starts: LL file names carry it, so a restart never reuses a name. */
  startedAt?: number;
}

/** LL-HLS part target bounds (ms): below 100 ms parts cost more requests than they save latency. */
export const PART_TARGET_MIN_MS = 100;
export const PART_TARGET_MAX_MS = 2000;
export const DEFAULT_PART_TARGET_MS = 500;

/** Why a part target (ms) cannot be used with segments of `hlsTime` seconds, or undefined. */
export function partTargetProblem(partTargetMs: number, hlsTime: number): string | undefined {
  if (partTargetMs < PART_TARGET_MIN_MS || partTargetMs > PART_TARGET_MAX_MS) return `must be between ${PART_TARGET_MIN_MS}ms and ${PART_TARGET_MAX_MS / 1000}s (got ${partTargetMs}ms)`;
  if (partTargetMs > hlsTime * 1000) return `${partTargetMs}ms is longer than a segment (${hlsTime}s)`;
  return undefined;
}

export function inputUrlOf(o: TranscodeOptions): string {
  const host = o.listenHost ?? '127.0.0.1';
  switch (o.input) {
    case 'rtmp':
      return `${hostPortUrl(host, o.rtmpPort ?? 1935, 'rtmp')}/${o.rtmpApp ?? 'live'}/${o.stream}`;
    case 'srt':
      return `${hostPortUrl(host, o.srtPort ?? 9000, 'srt')}?mode=listener&latency=${(o.srtLatencyMs ?? 200) * 1000}`;
    case 'url':
      if (!o.inputUrl) throw new Error('input url needs an input URL');
      return o.inputUrl;
    case 'testsrc':
      return 'testsrc2';
  }
}

const FONT_CANDIDATES = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf',
];

/** A TTF font for drawtext, or undefined (then the pattern has no burnt-in clock). */
export function findFont(): string | undefined {
  return FONT_CANDIDATES.find((f) => existsSync(f));
}

/** drawtext filter with a wall clock and media time, or undefined without a font. */
export function clockFilter(label: string, font = findFont()): string | undefined {
  if (!font) return undefined;
  const safe = label.replace(/[^A-Za-z0-9 _.-]/g, '');
  // In a filtergraph option value ':' must be escaped; inside text '%{...}' expands.
  const text = `${safe}  %{localtime\\:%T}  pts %{pts\\:hms}`;
  return `drawtext=fontfile=${font}:text='${text}':fontsize=h/14:fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=6:x=(w-text_w)/2:y=h-text_h-h/20`;
}

function lavfiTestInputs(size: string, fps: number): string[] {
  return [
    '-re', '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=${fps}`,
    '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:beep_factor=4:sample_rate=48000',
  ];
}

/** Full ffmpeg argv (without the program name) for the transcoder. */
export function transcodeArgs(o: TranscodeOptions): string[] {
  const ladder = o.ladder;
  if (ladder.length === 0) throw new Error('empty ladder');
  const hlsTime = o.hlsTime ?? DEFAULT_HLS_TIME;
  const fps = o.fps;
  const origin = o.origin.replace(/\/+$/, '');
  const base = `${origin}/hls/${o.stream}`;
  const args: string[] = ['-hide_banner', '-nostdin', '-loglevel', o.logLevel ?? 'warning', '-nostats', '-progress', 'pipe:1', '-stats_period', '1'];

  let videoIn = '0:v';
  let audioIn = '0:a';
  if (o.input === 'testsrc') {
    args.push(...lavfiTestInputs(o.testSize ?? '1280x720', fps ?? 30));
    videoIn = '0:v';
    audioIn = '1:a';
  } else if (o.input === 'rtmp') {
    args.push('-listen', '1', '-i', inputUrlOf(o));
  } else {
    args.push('-i', inputUrlOf(o));
  }

  // One decode, split into the rungs, each scaled (and frame-rate capped when asked).
  const rate = fps ? `,fps=${fps}` : '';
  const clock = o.input === 'testsrc' ? clockFilter(o.stream) : undefined;
  const chains = [`[${videoIn}]${clock ? clock + ',' : ''}split=${ladder.length}${ladder.map((_, i) => `[s${i}]`).join('')}`];
  ladder.forEach((r, i) => chains.push(`[s${i}]scale=w=${r.width}:h=${r.height}:force_original_aspect_ratio=decrease:force_divisible_by=2,setsar=1${rate}[v${i}]`));
  args.push('-filter_complex', chains.join(';'));

  ladder.forEach((_, i) => args.push('-map', `[v${i}]`));
  // Plain HLS muxes audio into every rendition; LL-HLS (one track per CMAF file) has one audio rendition.
  if (o.lowLatency) args.push('-map', audioIn);
  else ladder.forEach(() => args.push('-map', audioIn));

  args.push(
    '-c:v', 'libx264', '-preset', o.preset ?? 'veryfast', '-profile:v', 'main', '-pix_fmt', 'yuv420p',
    // Keyframe exactly every segment boundary: segments are independent and cut at hls_time.
    '-force_key_frames', `expr:gte(t,n_forced*${hlsTime})`, '-sc_threshold', '0',
  );
  // x264's lookahead, B-frames and frame threads hold frames back (0.4-0.6 s at 30 fps with veryfast on
  // two cores, docs/low-latency.md); zerolatency gives them up for a few percent more bits.
  if (o.lowLatency) args.push('-tune', 'zerolatency');
  if (fps) args.push('-g', String(Math.round(fps * hlsTime)), '-keyint_min', String(Math.round(fps * hlsTime)));
  // What players are told: ffmpeg 5.1 writes BANDWIDTH = 1.1 x (b:v + b:a) into the master (hlsenc.c), so
  // audio is counted and container overhead is a flat 10%. Segments run above it: MPEG-TS packetisation of
  // the AAC track alone costs more than that at these rates, and this VBV (maxrate 1.1x, bufsize 2x) lets a
  // segment spend the buffer. Measured peak segment bit rates against the declared value: 360p 0.95x (fMP4)
  // and 1.00x (TS), 240p 1.05x (TS), a first 360p segment after a restart 1.13x. ffmpeg 5.1
  // cannot declare more without encoding more, so the origin publishes what it measures instead
  // (docs/origin.md, "Master bandwidth").
  ladder.forEach((r, i) => args.push(
    `-b:v:${i}`, `${r.videoKbps}k`, `-maxrate:v:${i}`, `${Math.round(r.videoKbps * 1.1)}k`, `-bufsize:v:${i}`, `${r.videoKbps * 2}k`,
  ));
  args.push('-c:a', 'aac', '-b:a', `${o.audioKbps ?? 96}k`, '-ac', '2', '-ar', '48000');
  args.push(...(o.lowLatency ? lowLatencyOutput(o, base, hlsTime) : hlsOutput(o, base, hlsTime)));
  return args;
}

/** The `hls` muxer: each segment uploaded once finished, playlists after it. */
function hlsOutput(o: TranscodeOptions, base: string, hlsTime: number): string[] {
  const ladder = o.ladder;
  const fmp4 = o.segmentType === 'fmp4';
  const flags = ['independent_segments'];
  if (o.programDateTime ?? true) flags.push('program_date_time');
  if (o.deleteSegments ?? true) flags.push('delete_segments');
  const ext = fmp4 ? 'm4s' : 'ts';
  const args = [
    '-f', 'hls',
    '-hls_time', String(hlsTime),
    '-hls_list_size', String(o.listSize ?? 6),
    '-hls_flags', flags.join('+'),
    '-hls_segment_type', fmp4 ? 'fmp4' : 'mpegts',
  ];
  // ffmpeg 5.1 substitutes %v in the init name only with two or more variants.
  if (fmp4) args.push('-hls_fmp4_init_filename', ladder.length > 1 ? 'init_%v.mp4' : `init_${ladder[0]!.name}.mp4`);
  if ((o.startNumber ?? 'epoch') === 'epoch') args.push('-hls_start_number_source', 'epoch');
  args.push(
    '-master_pl_name', 'index.m3u8',
    '-master_pl_publish_rate', String(o.masterPublishRate ?? 5),
    '-var_stream_map', ladder.map((r, i) => `v:${i},a:${i},name:${r.name}`).join(' '),
    ...uploadArgs(o),
    '-hls_segment_filename', `${base}/%v_%d.${ext}`, `${base}/%v.m3u8`,
  );
  return args;
}

/** A value for an ffmpeg dictionary option (`key=value:key=value`): every special character escaped. */
export function avDictionaryValue(value: string): string {
  return value.replace(/[^A-Za-z0-9]/g, (c) => `\\${c}`);
}

function avDictionary(entries: Record<string, string>): string {
  return Object.entries(entries).map(([k, v]) => `${k}=${avDictionaryValue(v)}`).join(':');
}

/** AAC-LC frames hold 1024 samples; the transcoder always encodes audio at 48 kHz. */
const AAC_FRAME_SECONDS = 1024 / 48_000;

/**
 * The audio fragment duration for a part target: as many whole AAC frames as fit in a part (23 for
 * 0.5 s: 490.7 ms). The mp4 muxer starts a new fragment at the first packet whose decode time reaches
 * frag_duration after the fragment's start, so half a frame less than that many frames gives exactly them.
 */
export function audioFragmentSeconds(partTargetMs: number): number {
  const frames = Math.max(1, Math.floor(partTargetMs / 1000 / AAC_FRAME_SECONDS + 1e-9));
  return (frames - 0.5) * AAC_FRAME_SECONDS;
}

/**
 * The `dash` muxer in streaming mode: every segment is PUT from its first frame on, one fragment (moof +
 * mdat) per video frame in one HTTP chunk each, and the HLS playlists it writes name the segment in progress
 * with `#EXT-X-PREFETCH`. Its names: `media_<n>.m3u8` per representation (n = output stream index, the
 * rungs then the audio), the master as `index.m3u8`, `init-<start>-<n>.m4s`, `chunk-<start>-<n>-<k>.m4s`
 * where <start> is the ffmpeg start time in ms: the muxer counts k from 1 again after every restart, and
 * the start time keeps every name new. `manifest.mpd` is uploaded too (the muxer cannot be told not to).
 */
function lowLatencyOutput(o: TranscodeOptions, base: string, hlsTime: number): string[] {
  if (o.deleteSegments === false) throw new Error('low-latency mode always deletes old segments (ffmpeg keeps every segment it has not deleted in memory)');
  const start = Math.floor(o.startedAt ?? Date.now());
  return [
    '-f', 'dash',
    '-streaming', '1', '-lhls', '1', '-hls_playlist', '1', '-strict', 'experimental',
    '-seg_duration', String(hlsTime),
    '-frag_type', 'every_frame',
    // Video: a fragment per frame, so the origin can cut parts of any target and stream each frame as it
    // is encoded. Audio: a fragment per part (per frame would add 108 bytes to every 21 ms AAC frame,
    // +42% at 96 kbit/s). One adaptation set per stream, since the muxer refuses rungs of slightly
    // different aspect ratios (854x480, 426x240) in one set.
    '-adaptation_sets', [
      ...o.ladder.map((_, i) => `id=${i},streams=${i}`),
      `id=${o.ladder.length},frag_type=duration,frag_duration=${audioFragmentSeconds(o.partTargetMs ?? DEFAULT_PART_TARGET_MS).toFixed(6)},streams=${o.ladder.length}`,
    ].join(' '),
    '-window_size', String(o.listSize ?? 6),
    // DELETE a segment this many segments after it left the playlist (the origin keeps what it published
    // servable for its own grace period whatever ffmpeg deletes).
    '-extra_window_size', '2',
    '-init_seg_name', `init-${start}-$RepresentationID$.$ext$`,
    '-media_seg_name', `chunk-${start}-$RepresentationID$-$Number%05d$.$ext$`,
    '-hls_master_name', 'index.m3u8',
    '-master_m3u8_publish_rate', String(o.masterPublishRate ?? 5),
    // A `prft` box (the wall clock as the fragment is muxed, ~50-70 ms after capture) before every
    // fragment, 32 bytes each: the origin dates each segment by it, since the muxer's own PDT is its first
    // packet's second, truncated, plus durations (docs/low-latency.md). ffmpeg 5.1 writes prft only with a
    // UTCTiming URL, which goes into manifest.mpd alone (ffmpeg's documented example).
    '-write_prft', '1', '-utc_timing_url', 'https://time.akamai.com/?iso',
    ...uploadArgs(o),
    `${base}/manifest.mpd`,
  ];
}

/**
 * The options that carry the upload token. They reach ffmpeg as a preset on stdin (`-fpre /dev/stdin`),
 * never on its command line, where `ps` shows them to every user: ffmpeg 5.1 reads option values from
 * nothing else. The `hls` muxer takes `-headers`; the `dash` muxer ignores `-headers` (no upload would
 * carry the token) and takes its HTTP options from `-http_opts`, with TCP_NODELAY: on the kept-alive
 * connection the small last write of every playlist otherwise waits for the delayed ACK of the previous
 * one, 40 ms per playlist (docs/low-latency.md).
 */
function httpOptions(o: TranscodeOptions): Record<string, string> {
  const headers = o.uploadToken ? { headers: `Authorization: Bearer ${o.uploadToken}` } : undefined;
  if (o.lowLatency) return { http_opts: avDictionary({ ...headers, tcp_nodelay: '1' }) };
  return headers ?? {};
}

function uploadArgs(o: TranscodeOptions): string[] {
  const args = [
    '-method', 'PUT',
    '-http_persistent', '1',
    // A failed upload (origin restarting) must not stop the encoder.
    '-ignore_io_errors', '1',
  ];
  if (o.uploadToken) args.push('-fpre', '/dev/stdin');
  else for (const [name, value] of Object.entries(httpOptions(o))) args.push(`-${name}`, value);
  return args;
}

/** What ffmpeg reads on stdin with `-fpre /dev/stdin` (see httpOptions), or undefined without a token. */
export function uploadPreset(o: TranscodeOptions): string | undefined {
  if (!o.uploadToken) return undefined;
  if (/[\r\n]/.test(o.uploadToken)) throw new Error('upload token contains a line break');
  return Object.entries(httpOptions(o)).map(([name, value]) => `${name}=${value}\n`).join('');
}

/**
 * A preset line cannot end in CRLF, so ffmpeg completes the header itself and warns about it on every
 * connection; the warning says nothing about the stream.
 */
export const PRESET_HEADER_WARNING = 'No trailing CRLF found in HTTP header';

/** A test pattern size as ffmpeg's `testsrc2` takes it: WIDTHxHEIGHT. */
export function isPictureSize(text: string): boolean {
  return /^\d{2,5}x\d{2,5}$/.test(text);
}

export interface TestSourceOptions {
  /** Where to push: rtmp://host:port/live/<stream> (FLV) or srt://host:port (MPEG-TS). */
  to: string;
  size?: string;
  fps?: number;
  /** Burnt-in label. */
  label?: string;
  preset?: string;
  videoKbps?: number;
  logLevel?: string;
}

/** Full ffmpeg argv for the test pattern pushed to the ingest (what OBS would do). */
export function testSourceArgs(o: TestSourceOptions): string[] {
  const fps = o.fps ?? 30;
  const clock = clockFilter(o.label ?? 'cascade');
  const format = o.to.startsWith('srt:') ? 'mpegts' : 'flv';
  const kbps = o.videoKbps ?? 2500;
  return [
    '-hide_banner', '-nostdin', '-loglevel', o.logLevel ?? 'warning', '-nostats', '-progress', 'pipe:1', '-stats_period', '1',
    ...lavfiTestInputs(o.size ?? '1280x720', fps),
    ...(clock ? ['-vf', clock] : []),
    '-map', '0:v', '-map', '1:a',
    '-c:v', 'libx264', '-preset', o.preset ?? 'veryfast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p',
    '-g', String(fps), '-b:v', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${kbps}k`,
    '-c:a', 'aac', '-b:a', '128k', '-ar', '48000', '-ac', '2',
    '-f', format, o.to,
  ];
}

/** A command line for humans (logs, docs): shell-quoted where needed. */
export function shellLine(cmd: string, args: readonly string[]): string {
  const q = (a: string) => (/^[A-Za-z0-9_./:=@%+,-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`).replace(/\r/g, '\\r').replace(/\n/g, '\\n')}'`);
  return [cmd, ...args].map(q).join(' ');
}
