// Request classification: what the edge does with a request under /hls/, decided in one place for the
// fast hit path (edge/fresh-hit.ts, before Hono) and for serveStream (edge/serve-stream.ts, after the
// request hook may have rewritten the path). Pure and allocation-light: it runs on every hit.
import { isPlaylistPath } from '../src/media-types.js';
import type { RequestTarget } from '../src/stream-path.js';
import { cacheKeyOf } from './cache-key.js';

export interface Classification {
  /**
   * Where a draining edge sends a playlist request: the LB plus the path and query as received, so
   * players re-enter through the LB and land on another edge. When set, nothing else applies.
   */
  redirect: string | undefined;
  /** Playlists are redirected while draining, count viewers, and masters go out through the LB. */
  playlist: boolean;
  /** The upstream request (path plus the kept query parameters); the cache key unless the cacheKey hook says otherwise. */
  upstreamPath: string;
}

export interface ClassifierOptions {
  /** Query parameters kept in the key and sent upstream (--cache-key-params). */
  keyParams: readonly string[];
  /** The LB's base URL without a trailing slash; without it there is nowhere to redirect to. */
  lbUrl: string | undefined;
  draining: () => boolean;
}

export class RequestClassifier {
  constructor(private readonly options: ClassifierOptions) {}

  /** `target.pathname` is the stream path (rewritten or not); `pathAndQuery` is what the player sent. */
  classify(target: Pick<RequestTarget, 'pathname' | 'query' | 'pathAndQuery'>): Classification {
    const { keyParams, lbUrl } = this.options;
    const playlist = isPlaylistPath(target.pathname);
    const redirect = this.redirects(playlist) ? lbUrl + target.pathAndQuery : undefined;
    return { redirect, playlist, upstreamPath: cacheKeyOf(target.pathname, target.query, keyParams) };
  }

  /** Whether a request of this kind goes to the LB now: a playlist, while the edge drains. */
  redirects(playlist: boolean): boolean {
    return playlist && this.options.lbUrl !== undefined && this.options.draining();
  }
}
