// The LB's player page (/play/<stream>) driven from tests and benchmarks: its state on
// window.cascadePlayer, waiting for a condition on it, and sampling its glass-to-player latency.
import type { Page } from 'playwright-core';

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

/** Nearest-rank quantile, `q` in (0, 1]. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
