// The LB's player page (/play/<stream>) driven from tests and benchmarks: a stack and a Chromium page for
// it, its state on window.cascadePlayer, waiting for a condition on it, and sampling it while it plays.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startStack, stackOptionsFrom, type Stack, type StackOptions } from '../../cli/stack.js';
import { freePort } from './process.js';

const ROOT = new URL('../..', import.meta.url).pathname;

export interface PlayerState {
  currentTime: number;
  servedBy: string | null;
  edgeUrl: string | null;
  latency: number | null;
  buffer: number;
  rendition: string | null;
  lowLatency: boolean;
  partTarget: number | null;
  canBlockReload: boolean;
  /** hls.js: seconds behind the playlist's live edge, and the distance it aims for. */
  behindLiveEdge: number | null;
  targetLatency: number | null;
  recoveries: number;
  fatalErrors: number;
  errors: number;
  state: string;
  lastError: string | null;
}

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--autoplay-policy=no-user-gesture-required'];

export const playerState = (page: Page): Promise<PlayerState> =>
  page.evaluate(() => ({ ...(window as unknown as { cascadePlayer: PlayerState }).cascadePlayer }));

/** Polls the page's player state until `cond` holds (bounded), returns that state. */
export async function waitForPlayer(page: Page, cond: (s: PlayerState) => boolean, timeoutMs: number, what: string): Promise<PlayerState> {
  const deadline = Date.now() + timeoutMs;
  let last: PlayerState | undefined;
  for (;;) {
    last = await playerState(page).catch(() => last);
    if (last && cond(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; player: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The page's state every 250 ms while it plays with a latency, for `ms`. */
export async function samplePlaying(page: Page, ms: number): Promise<PlayerState[]> {
  const samples: PlayerState[] = [];
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const s = await playerState(page);
    if (s.state === 'playing' && s.latency !== null) samples.push(s);
    await new Promise((r) => setTimeout(r, 250));
  }
  return samples;
}

export interface BrowserStackOptions {
  fps: number;
  ladder?: string;
  preset?: string;
  /** More `cascade stack` flags (e.g. --low-latency). */
  extra?: string[];
}

/** `cascade stack` on free loopback ports with a ladder cheap enough for a 2-core box that also runs Chromium. */
export async function startBrowserStack(o: BrowserStackOptions, write: (line: string) => void): Promise<{ stack: Stack; options: StackOptions }> {
  const [port, originPort, e1, e2, rtmpPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const options = stackOptionsFrom([
    '--port', String(port), '--origin-port', String(originPort), '--edge-ports', `${e1},${e2}`, '--rtmp-port', String(rtmpPort),
    '--ladder', o.ladder ?? '240p,144p', '--fps', String(o.fps), '--source-size', '426x240', '--preset', o.preset ?? 'ultrafast',
    '--log-level', 'error', ...(o.extra ?? []),
  ], {})!;
  return { stack: await startStack({ ...options, write }), options };
}

export interface BrowserSession {
  stack: Stack;
  options: StackOptions;
  page: Page;
  pageErrors: string[];
  logs: string[];
}

/**
 * A stack and a Chromium page for a test, stopped after it (the stack's output kept in
 * test-results/<name>-stack.log). Undefined (the test skipped) without dist/cli.js or Chromium.
 */
export async function browserSession(t: TestContext, name: string, o: BrowserStackOptions): Promise<BrowserSession | undefined> {
  if (!existsSync(join(ROOT, 'dist/cli.js'))) { t.skip('npm run build first'); return undefined; }
  if (!existsSync(CHROMIUM)) { t.skip(`${CHROMIUM} not installed (apt-get install chromium)`); return undefined; }
  const logs: string[] = [];
  const { stack, options } = await startBrowserStack(o, (l) => logs.push(l));
  let browser: Browser | undefined;
  t.after(async () => {
    await browser?.close().catch(() => {});
    await stack.stop();
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    writeFileSync(join(ROOT, 'test-results', `${name}-stack.log`), logs.join('\n') + '\n');
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const page = await browser.newPage({ viewport: { width: 1000, height: 820 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  return { stack, options, page, pageErrors, logs };
}
