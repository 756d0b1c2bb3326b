// `cascade transcode` and `cascade source`: the ingest stage of the pipeline (compose and the Helm chart run
// them; `cascade stack` starts the same transcoder/ stages in-process):
//   cascade transcode --origin URL --stream demo --input rtmp|srt|testsrc|url ...
//   cascade source --to rtmp://host:1935/live/demo ...
import { parseCommand, takePositionals, untilSignal, type Command, type CommandHelp } from '../src/command.js';
import { maskSecrets } from '../src/log.js';
import { UsageError, type OptionsSpec, type ParsedOptions } from '../src/options.js';
import { isValidStreamName } from '../src/stream-path.js';
import { hostPortUrl } from '../src/url.js';
import {
  DEFAULT_LADDER, DEFAULT_PART_TARGET_MS, X264_PRESETS, commandExists, isPictureSize, parseLadder, partTargetProblem, startTestSource,
  startGatedTranscoder, startTranscoder, type InputKind, type Rendition,
} from '../transcoder/index.js';

const FFMPEG_OPTIONS = {
  ffmpeg: { type: 'string', default: 'ffmpeg', help: 'ffmpeg executable' },
  'ffmpeg-log-level': { type: 'string', default: 'warning', choices: ['quiet', 'error', 'warning', 'info', 'verbose'], help: 'ffmpeg -loglevel' },
} as const satisfies OptionsSpec;

export const TRANSCODE_OPTIONS = {
  origin: { type: 'url', default: 'http://127.0.0.1:8090', help: 'origin base URL the HLS output is PUT to' },
  stream: { type: 'string', default: 'demo', help: 'stream name: output goes to <origin>/hls/<stream>/, master index.m3u8' },
  'upload-token': { type: 'string', secret: true, help: "origin's upload token (sent as Authorization: Bearer)" },
  input: { type: 'string', default: 'rtmp', choices: ['rtmp', 'srt', 'testsrc', 'url'], help: 'RTMP listener, SRT listener, built-in test pattern, or --input-url' },
  'input-url': { type: 'string', help: 'any ffmpeg input (with --input url)' },
  'listen-host': { type: 'string', default: '127.0.0.1', help: 'address the RTMP/SRT listener binds (0.0.0.0 in a container)' },
  'rtmp-port': { type: 'int', default: 1935, min: 1, max: 65535, help: 'RTMP listener port: publish to rtmp://host:port/live/<stream>' },
  'srt-port': { type: 'int', default: 9000, min: 1, max: 65535, help: 'SRT listener port: publish to srt://host:port' },
  'publish-key': {
    type: 'string', secret: true, repeat: true,
    help: 'publishers need it: rtmp://host:port/live/<stream>?key=K or srt://host:port?streamid=publish/<stream>/K; others are refused before ffmpeg reads anything (several for rotation)',
  },
  ladder: { type: 'string', default: DEFAULT_LADDER, help: 'renditions: presets 1080p,720p,480p,360p,240p,180p,144p or name=WxH@kbps' },
  fps: { type: 'int', min: 1, max: 120, help: 'output frame rate (default: the source rate)' },
  preset: { type: 'string', default: 'veryfast', choices: X264_PRESETS, help: 'x264 preset' },
  'audio-bitrate': { type: 'int', default: 96, min: 16, max: 512, help: 'AAC bitrate per rendition, kbit/s' },
  'hls-time': { type: 'int', default: 2, min: 1, max: 10, help: 'segment duration, seconds' },
  'list-size': { type: 'int', default: 6, min: 2, max: 100, help: 'segments per media playlist' },
  'segment-type': { type: 'string', default: 'ts', choices: ['ts', 'fmp4'], help: 'MPEG-TS or fragmented MP4 (CMAF) segments' },
  'program-date-time': { type: 'bool', default: true, help: 'write EXT-X-PROGRAM-DATE-TIME (--no-program-date-time to disable)' },
  'delete-segments': { type: 'bool', default: true, help: 'DELETE segments that left the playlist' },
  'start-number': { type: 'string', default: 'epoch', choices: ['epoch', 'zero'], help: 'first media sequence: epoch seconds (never reused) or 0' },
  'low-latency': { type: 'bool', default: false, help: 'LL-HLS ingest: fMP4 segments PUT while written, a fragment per frame (implies fmp4)' },
  'part-target': { type: 'duration', default: `${DEFAULT_PART_TARGET_MS}ms`, help: 'LL part target, 100ms..2s: audio fragments are sized to it; the origin cuts parts of at most this' },
  ...FFMPEG_OPTIONS,
} as const satisfies OptionsSpec;

export const SOURCE_OPTIONS = {
  to: { type: 'string', default: 'rtmp://127.0.0.1:1935/live/demo', help: 'ingest to push to: rtmp://host:port/live/<stream> or srt://host:port' },
  size: { type: 'string', default: '1280x720', help: 'test pattern size WxH' },
  fps: { type: 'int', default: 30, min: 1, max: 120, help: 'test pattern frame rate' },
  preset: { type: 'string', default: 'veryfast', choices: X264_PRESETS, help: 'x264 preset' },
  'video-bitrate': { type: 'int', default: 2500, min: 50, max: 50_000, help: 'video bitrate, kbit/s' },
  label: { type: 'string', default: 'cascade', help: 'text burnt in next to the clock' },
  ...FFMPEG_OPTIONS,
} as const satisfies OptionsSpec;

interface Stoppable {
  stop(): Promise<void>;
}

interface StageCommand<S extends OptionsSpec> {
  name: string;
  summary: string;
  spec: S;
  help: CommandHelp;
  /** The stage's name in its log lines. */
  stage: string;
  /** Checks the options (a UsageError for a bad one) and returns how to start the stage once ffmpeg is found. */
  prepare(options: ParsedOptions<S>): (log: (line: string) => void) => Stoppable | Promise<Stoppable>;
}

/**
 * A command that runs one ffmpeg stage until SIGTERM/SIGINT: options checked first (exit 2), then ffmpeg
 * looked for (missing: one line, exit 1), then the stage started under its restart loop; on the signal,
 * ffmpeg is stopped.
 */
function stageCommand<S extends OptionsSpec & typeof FFMPEG_OPTIONS>(command: StageCommand<S>): Command {
  return {
    name: command.name,
    summary: command.summary,
    async run(argv) {
      const parsed = parseCommand(command.spec, argv, command.help);
      if (!parsed) return 0;
      takePositionals(parsed.positionals, []);
      const start = command.prepare(parsed.options);
      const ffmpeg = parsed.options.ffmpeg as string;
      if (!commandExists(ffmpeg)) {
        process.stderr.write(`cascade ${command.name}: ffmpeg not found ('${ffmpeg}'); install it (apt-get install ffmpeg)\n`);
        return 1;
      }
      // Prefixed like `cascade stack` prefixes the lines of its children.
      const log = (line: string) => process.stderr.write(maskSecrets(`[${command.stage}] ${line}`) + '\n');
      const stage = await start(log);
      return untilSignal(async (signal) => {
        log(`${signal}: stopping ffmpeg`);
        await stage.stop();
      });
    },
  };
}

export const transcodeCommand = stageCommand({
  name: 'transcode',
  summary: 'ingest (RTMP/SRT listener, test pattern or URL) -> ffmpeg ABR ladder -> HLS PUT to the origin',
  spec: TRANSCODE_OPTIONS,
  help: {
    usage: 'cascade transcode [--origin URL] [--stream NAME] [--input rtmp|srt|testsrc|url] [options]',
    description: 'Takes a pushed stream (RTMP or SRT listener) or a test pattern and uploads an HLS ABR ladder to the origin with HTTP PUT. Restarts ffmpeg when it exits.',
  },
  stage: 'transcoder',
  prepare(o) {
    if (!isValidStreamName(o.stream)) throw new UsageError(`--stream: must match [A-Za-z0-9_-]{1,64} (got '${o.stream}')`);
    if (o.input === 'url' && !o['input-url']) throw new UsageError('--input url needs --input-url');
    if (o['low-latency'] && !o['delete-segments']) throw new UsageError('--no-delete-segments cannot be used with --low-latency (ffmpeg\'s dash muxer keeps every segment it has not deleted in memory)');
    const partProblem = partTargetProblem(o['part-target'], o['hls-time']);
    if (partProblem) throw new UsageError(`--part-target: ${partProblem}`);
    let ladder: Rendition[];
    try { ladder = parseLadder(o.ladder); } catch (e) { throw new UsageError(`--ladder: ${(e as Error).message}`); }
    const publishKeys = o['publish-key'];
    if (publishKeys.length > 0 && o.input !== 'rtmp' && o.input !== 'srt') throw new UsageError('--publish-key needs --input rtmp or srt');
    return async (log) => {
      const settings = {
        origin: o.origin, stream: o.stream, uploadToken: o['upload-token'], input: o.input as InputKind, inputUrl: o['input-url'],
        listenHost: o['listen-host'], rtmpPort: o['rtmp-port'], srtPort: o['srt-port'], ladder, fps: o.fps, preset: o.preset,
        audioKbps: o['audio-bitrate'], hlsTime: o['hls-time'], listSize: o['list-size'], segmentType: o['segment-type'] as 'ts' | 'fmp4',
        programDateTime: o['program-date-time'], deleteSegments: o['delete-segments'], startNumber: o['start-number'] as 'epoch' | 'zero',
        lowLatency: o['low-latency'], partTargetMs: o['part-target'], ffmpeg: o.ffmpeg, logLevel: o['ffmpeg-log-level'], onLog: log,
      };
      const transcoder = publishKeys.length > 0 ? await startGatedTranscoder(settings, publishKeys) : startTranscoder(settings);
      const where = o.input === 'rtmp' ? `${hostPortUrl(o['listen-host'], o['rtmp-port'], 'rtmp')}/live/${o.stream}`
        : o.input === 'srt' ? hostPortUrl(o['listen-host'], o['srt-port'], 'srt') : o.input === 'url' ? o['input-url'] : 'test pattern';
      log(`ingest ${where}${publishKeys.length > 0 ? ' (publish key required)' : ''} -> ${o.origin}/hls/${o.stream}/index.m3u8 (${ladder.map((r) => r.name).join(', ')}${o['low-latency'] ? `; low latency, part target ${o['part-target']} ms` : ''})`);
      return transcoder;
    };
  },
});

export const sourceCommand = stageCommand({
  name: 'source',
  summary: 'push a test pattern (moving picture, tone, burnt-in clock) to an RTMP or SRT ingest',
  spec: SOURCE_OPTIONS,
  help: {
    usage: 'cascade source [--to rtmp://host:1935/live/<stream>] [--size 1280x720] [--fps 30] [options]',
    description: 'Pushes a test pattern (testsrc2, a 440 Hz tone, a burnt-in clock) to an RTMP or SRT ingest.',
  },
  stage: 'source',
  prepare(o) {
    if (!isPictureSize(o.size)) throw new UsageError(`--size: not WIDTHxHEIGHT: '${o.size}'`);
    if (!/^(rtmp|srt):\/\//.test(o.to)) throw new UsageError(`--to: must be an rtmp:// or srt:// URL (got '${o.to}')`);
    return (log) => {
      const source = startTestSource({
        to: o.to, size: o.size, fps: o.fps, preset: o.preset, videoKbps: o['video-bitrate'], label: o.label,
        ffmpeg: o.ffmpeg, logLevel: o['ffmpeg-log-level'], onLog: log,
      });
      log(`pushing test pattern ${o.size}@${o.fps} to ${o.to}`);
      return source;
    };
  },
});
