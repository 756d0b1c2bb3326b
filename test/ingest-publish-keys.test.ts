// Publish keys at the transcoder's RTMP and SRT ingest, with real ffmpeg publishers and `cascade transcode`
// as operators run it (the key from the environment): a wrong or missing key is refused before ffmpeg reads
// anything (nothing reaches the origin) and logged without the key; the right key's stream reaches the
// origin; no process's command line shows a key.
//   ffmpeg publisher --RTMP/SRT--> door (key checked) --> ffmpeg transcoder --PUT--> origin
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createOrigin, type Origin } from '../origin/index.js';
import { freePort } from '../src/free-port.js';
import { listen, type Listening } from '../src/serve.js';
import { CLI, startChild, type Child } from './helpers/process.js';

const KEY = 'publish-key-0123456789abcdef';
const OLD_KEY = 'publish-key-old-0123456789ab';
const UPLOAD_TOKEN = 'upload-token-0123456789abcdef';

let origin: Origin;
let server: Listening;
before(async () => {
  origin = await createOrigin({ uploadToken: UPLOAD_TOKEN });
  server = await listen(origin.app, { port: 0, host: '127.0.0.1' });
});
after(async () => {
  await server.close(200);
  await origin.close();
});

async function startTranscode(stream: string, input: 'rtmp' | 'srt', port: number): Promise<Child> {
  const child = startChild(process.execPath, [...CLI, 'transcode', '--origin', server.url, '--stream', stream, '--input', input, `--${input}-port`, String(port),
    '--ladder', '144p', '--preset', 'ultrafast', '--fps', '10', '--hls-time', '1', '--ffmpeg-log-level', 'warning'], {
    env: { ...process.env, CASCADE_PUBLISH_KEY: `${KEY},${OLD_KEY}`, CASCADE_UPLOAD_TOKEN: UPLOAD_TOKEN },
  });
  await child.waitFor(/publish key required/, 60_000);
  return child;
}

/** An ffmpeg publisher of a small test pattern for `seconds`; resolves with its exit code and output. */
async function publish(url: string, seconds: number): Promise<{ code: number | null; output: string }> {
  const format = url.startsWith('srt:') ? 'mpegts' : 'flv';
  const child = startChild('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=160x90:rate=10',
    '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', String(seconds),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '10', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-f', format, url]);
  const timer = setTimeout(() => void child.kill('SIGKILL'), 90_000);
  const code = await child.exited;
  clearTimeout(timer);
  return { code, output: child.output() };
}

async function originHas(stream: string): Promise<boolean> {
  const res = await fetch(`${server.url}/hls/${stream}/144p.m3u8`);
  return res.ok && /#EXTINF/.test(await res.text());
}

/** The command lines of `pid` and its children (ffmpeg): what `ps` shows every user. */
function commandLines(pid: number): string {
  return execFileSync('ps', ['-o', 'args=', '--pid', String(pid), '--ppid', String(pid)], { encoding: 'utf8' });
}

for (const input of ['rtmp', 'srt'] as const) {
  test(`${input}: a wrong or missing key is refused before transcoding and logged; the right key (new or old) is transcoded to the origin`, async () => {
    const stream = `keyed-${input}`;
    const port = await freePort('127.0.0.1', input === 'srt' ? 'udp' : 'tcp');
    const url = (key: string | undefined) => (input === 'rtmp'
      ? `rtmp://127.0.0.1:${port}/live/${stream}${key === undefined ? '' : `?key=${key}`}`
      : `srt://127.0.0.1:${port}?streamid=${key === undefined ? `play/${stream}` : `publish/${stream}/${key}`}`);
    const transcoder = await startTranscode(stream, input, port);
    try {
      for (const [key, reason] of [['wrong-key-0123456789', 'wrong-key'], [undefined, input === 'rtmp' ? 'no-key' : 'not-publish']] as const) {
        const refused = await publish(url(key), 3);
        assert.notEqual(refused.code, 0, `refused (${reason}): ${refused.output}`);
        await transcoder.waitFor(new RegExp(`publish_refused stream=${stream} peer=127\\.0\\.0\\.1:\\d+ reason=${reason}`), 30_000);
      }
      assert.equal(await originHas(stream), false, 'nothing reached the origin');
      assert.equal((await fetch(`${server.url}/hls/${stream}/index.m3u8`)).status, 404);

      // The right key: retried while ffmpeg's listener restarts after the refused connections (RTMP).
      for (const key of [KEY, OLD_KEY]) {
        const deadline = Date.now() + 90_000;
        for (;;) {
          const played = await publish(url(key), 4);
          if (played.code === 0) break;
          assert.ok(Date.now() < deadline, `the right key is taken within 90 s: ${played.output}`);
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      await transcoder.waitFor(new RegExp(`publish_allowed stream=${stream}`));
      const deadline = Date.now() + 60_000;
      while (!(await originHas(stream))) {
        assert.ok(Date.now() < deadline, `the stream reached the origin: ${transcoder.output().slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      const lines = commandLines(transcoder.pid);
      assert.match(lines, /ffmpeg/, 'the transcoder runs ffmpeg');
      for (const secret of [KEY, OLD_KEY, UPLOAD_TOKEN]) {
        assert.ok(!lines.includes(secret), `no secret on a command line: ${lines}`);
        assert.ok(!transcoder.output().includes(secret), 'no secret in the log');
      }
    } finally {
      await transcoder.kill('SIGTERM');
    }
  });
}
