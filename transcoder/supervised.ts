// ffmpeg stages run under a Supervisor: the transcoder and the test source.
import { PRESET_HEADER_WARNING, testSourceArgs, transcodeArgs, shellLine, uploadPreset, type TestSourceOptions, type TranscodeOptions } from './ffmpeg.js';
import { Supervisor } from './process.js';

export interface SupervisedFfmpeg {
  ffmpeg?: string;
  onLog?: (line: string) => void;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  stallTimeoutMs?: number;
}

/** Starts the transcoder and keeps it running: ffmpeg is restarted (with backoff) whenever it exits. */
export function startTranscoder(options: TranscodeOptions & SupervisedFfmpeg): Supervisor {
  const ffmpeg = options.ffmpeg ?? 'ffmpeg';
  // Built for every start (low-latency file names carry the start time); built once here so that bad
  // options throw now rather than in the restart loop.
  transcodeArgs(options);
  const preset = uploadPreset(options);
  const onLog = options.onLog;
  let lastWasNoise = false;
  return new Supervisor({
    name: 'transcoder',
    command: ffmpeg,
    args: () => {
      const args = transcodeArgs({ ...options, startedAt: Date.now() });
      onLog?.(`ffmpeg command: ${shellLine(ffmpeg, args)}`);
      return args;
    },
    ...(preset !== undefined ? { stdin: preset } : {}),
    minBackoffMs: options.minBackoffMs ?? 500,
    maxBackoffMs: options.maxBackoffMs ?? 5000,
    // A listener waits for a publisher without progress; once media flowed, 15 s of silence is a stall.
    stallTimeoutMs: options.stallTimeoutMs ?? 15_000,
    ...(onLog ? {
      onLog(line: string) {
        const noise = line.includes(PRESET_HEADER_WARNING) || (lastWasNoise && line.includes('Last message repeated'));
        lastWasNoise = noise;
        if (!noise) onLog(line);
      },
    } : {}),
  }).start();
}

/** Starts the test pattern pushing to the ingest, retried (with backoff) until the ingest accepts it. */
export function startTestSource(options: TestSourceOptions & SupervisedFfmpeg): Supervisor {
  const ffmpeg = options.ffmpeg ?? 'ffmpeg';
  const args = testSourceArgs(options);
  options.onLog?.(`ffmpeg command: ${shellLine(ffmpeg, args)}`);
  return new Supervisor({
    name: 'source',
    command: ffmpeg,
    args: () => args,
    minBackoffMs: options.minBackoffMs ?? 300,
    maxBackoffMs: options.maxBackoffMs ?? 2000,
    stallTimeoutMs: options.stallTimeoutMs ?? 15_000,
    ...(options.onLog ? { onLog: options.onLog } : {}),
  }).start();
}
