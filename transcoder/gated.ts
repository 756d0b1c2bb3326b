// A transcoder whose RTMP or SRT ingest takes publish keys: ffmpeg's listener moves to a loopback port
// nobody else reaches, and the door that checks the key (transcoder/rtmp-gate.ts, srt-gate.ts) takes the
// public address in its place. Publishers see the same URL as without keys, plus their key.
import { freePort } from '../src/free-port.js';
import type { TranscodeOptions } from './ffmpeg.js';
import type { Supervisor } from './process.js';
import { PublishKeys, type Door } from './publish-key.js';
import { startRtmpGate } from './rtmp-gate.js';
import { startSrtGate } from './srt-gate.js';
import { startTranscoder, type SupervisedFfmpeg } from './supervised.js';

export interface GatedTranscoder {
  transcoder: Supervisor;
  /** The public port publishers use. */
  port: number;
  stop(): Promise<void>;
}

/** Starts the door and ffmpeg behind it; `publishKeys` are the keys accepted for `options.stream`. */
export async function startGatedTranscoder(options: TranscodeOptions & SupervisedFfmpeg, publishKeys: readonly string[]): Promise<GatedTranscoder> {
  if (options.input !== 'rtmp' && options.input !== 'srt') throw new Error('publish keys are for the rtmp and srt inputs');
  const keys = new PublishKeys(options.stream, publishKeys);
  const internal = '127.0.0.1';
  const upstreamPort = await freePort(internal, options.input === 'srt' ? 'udp' : 'tcp');
  const door = {
    keys, host: options.listenHost ?? '127.0.0.1', upstreamHost: internal, upstreamPort,
    // One line per decision, like ffmpeg's: the transcoder's log is plain lines.
    onEvent: (event: string, fields: Record<string, unknown>) =>
      options.onLog?.(`${event} ${Object.entries(fields).map(([k, v]) => `${k}=${String(v)}`).join(' ')}`),
  };
  let gate: Door;
  if (options.input === 'rtmp') gate = await startRtmpGate({ ...door, port: options.rtmpPort ?? 1935 });
  else gate = await startSrtGate({ ...door, port: options.srtPort ?? 9000 });
  const transcoder = startTranscoder({
    ...options, listenHost: internal, ...(options.input === 'rtmp' ? { rtmpPort: upstreamPort } : { srtPort: upstreamPort }),
  });
  return {
    transcoder,
    port: gate.port,
    async stop() {
      await gate.close();
      await transcoder.stop();
    },
  };
}
