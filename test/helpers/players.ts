// Real HLS players other than hls.js, run headless by tests, each read through its own progress output:
// ffmpeg `-progress` out_time, mpv's playback-time (printed by a small Lua script), GStreamer buffer
// timestamps at a fakesink that plays in real time, VLC's `get_time` on its rc interface.
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startChild, type Child } from './process.js';

export interface PlayerSpec {
  name: string;
  /** The command it runs (the key of scripts/setup.mjs TOOLS.test that installs it). */
  command: string;
  /** A GStreamer element it needs besides the command. */
  element?: string;
  start(url: string, dir: string): Child;
  /** The media time it has reached (seconds, any origin), from its output so far. */
  position(output: string): number | undefined;
  /** Asks for progress output, for players that only answer questions (called every sample). */
  poll?(child: Child): void;
}

const isRoot = process.getuid?.() === 0;

function hms(h: string, m: string, s: string): number {
  return Number(h) * 3600 + Number(m) * 60 + Number(s);
}

function lastMatch(output: string, re: RegExp): RegExpExecArray | undefined {
  let last: RegExpExecArray | undefined;
  for (let m = re.exec(output); m !== null; m = re.exec(output)) last = m;
  return last;
}

/**
 * GStreamer through `bin` (playbin3 plugs hlsdemux2, playbin the original hlsdemux): a fakesink that
 * syncs to the clock plays in real time and, with -v, prints every buffer's timestamp.
 */
function gstreamer(bin: 'playbin3' | 'playbin', element: string): PlayerSpec {
  return {
    name: bin === 'playbin3' ? 'gstreamer-playbin3' : 'gstreamer-hlsdemux',
    command: 'gst-launch-1.0',
    element,
    start: (url) => startChild('gst-launch-1.0', ['-v', bin, `uri=${url}`,
      'video-sink=fakesink sync=true silent=false', 'audio-sink=fakesink sync=true']),
    position(output) {
      const m = lastMatch(output, /pts: (\d+):(\d\d):(\d\d\.\d+)/g);
      return m && hms(m[1]!, m[2]!, m[3]!);
    },
  };
}

export const PLAYERS: PlayerSpec[] = [
  {
    name: 'ffmpeg',
    command: 'ffmpeg',
    // -re reads at the speed of playback; -c copy: no decoding, the demuxer is what is tested.
    start: (url) => startChild('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'warning', '-re', '-i', url,
      '-c', 'copy', '-f', 'null', '-', '-progress', 'pipe:1', '-stats_period', '0.5']),
    position(output) {
      const m = lastMatch(output, /out_time=(\d+):(\d\d):(\d\d\.\d+)/g);
      return m && hms(m[1]!, m[2]!, m[3]!);
    },
  },
  {
    name: 'mpv',
    command: 'mpv',
    start(url, dir) {
      const script = join(dir, 'position.lua');
      writeFileSync(script, 'mp.add_periodic_timer(0.5, function() print("played " .. tostring(mp.get_property_number("playback-time"))) end)\n');
      return startChild('mpv', ['--no-config', '--vo=null', '--ao=null', '--msg-level=all=warn,position=info', `--script=${script}`, url]);
    },
    position(output) {
      const m = lastMatch(output, /^\[position\] played (\d+(?:\.\d+)?)/gm);
      return m && Number(m[1]);
    },
  },
  gstreamer('playbin3', 'hlsdemux2'),
  gstreamer('playbin', 'hlsdemux'),
  {
    name: 'vlc',
    command: 'cvlc',
    start(url, dir) {
      const args = ['-I', 'oldrc', '--rc-fake-tty', '--no-video', '--aout=dummy', url];
      const options = { stdio: ['pipe', 'pipe', 'pipe'] as ['pipe', 'pipe', 'pipe'], env: { ...process.env, HOME: dir } };
      // VLC refuses to run as root: setpriv (no fork, so the pid is VLC's) drops to nobody.
      if (isRoot) chmodSync(dir, 0o777);
      const child = isRoot ? startChild('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'cvlc', ...args], options) : startChild('cvlc', args, options);
      // A poll racing VLC's exit fails with EPIPE; its exit is what the test reads, not the failed write.
      child.proc.stdin?.on('error', () => undefined);
      return child;
    },
    position(output) {
      const m = lastMatch(output, /^(\d+)\r?$/gm);
      return m && Number(m[1]);
    },
    poll(child) {
      if (child.proc.stdin?.writable) child.proc.stdin.write('get_time\n');
    },
  },
];

const onPath = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;

/** Why this player cannot run here, or undefined when it can. */
export function unavailable(spec: PlayerSpec): string | undefined {
  if (!onPath(spec.command)) return `'${spec.command}' not installed (node scripts/setup.mjs test installs it)`;
  if (spec.element && spawnSync('gst-inspect-1.0', ['--exists', spec.element]).status !== 0) return `GStreamer element ${spec.element} missing (gstreamer1.0-plugins-bad)`;
  if (spec.command === 'cvlc' && isRoot && !onPath('setpriv')) return 'VLC refuses to run as root and setpriv is missing';
  return undefined;
}

/**
 * Media time played, from a player's position samples: the sum of forward steps, each capped by the wall
 * time since the previous sample (plus slack), so a jump to the live edge after a stall is not counted
 * as played and nothing counts faster than real time.
 */
export class PlayedTime {
  private last?: { pos: number; at: number };
  played = 0;

  sample(pos: number | undefined, at: number): void {
    if (pos === undefined) return;
    if (this.last !== undefined && pos > this.last.pos) {
      this.played += Math.min(pos - this.last.pos, (at - this.last.at) / 1000 + 0.6);
    }
    this.last = { pos, at };
  }
}
