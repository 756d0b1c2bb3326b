// Conditional requests (RFC 9110 13) and single byte ranges (RFC 9110 14), shared by every role that
// serves bytes. Request headers come as Fetch `Headers` (Hono) or Node's header object (direct writers).
import type { IncomingHttpHeaders } from 'node:http';

export type RequestHeaders = Headers | IncomingHttpHeaders;

export interface Validators {
  etag?: string | undefined;
  /** ms since epoch */
  lastModified?: number | undefined;
}

function header(h: RequestHeaders, name: string): string | undefined {
  if (h instanceof Headers) return h.get(name) ?? undefined;
  const v = h[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Validators from stored response headers (`etag`, `last-modified`). */
export function validatorsOf(stored: Record<string, string>): Validators {
  const lm = stored['last-modified'] !== undefined ? Date.parse(stored['last-modified']) : Number.NaN;
  return { etag: stored.etag, lastModified: Number.isFinite(lm) ? lm : undefined };
}

/** True when the client's copy is current: answer 304. If-None-Match (weak comparison) wins over If-Modified-Since. */
export function notModified(headers: RequestHeaders, v: Validators): boolean {
  const inm = header(headers, 'if-none-match');
  if (inm !== undefined) {
    if (!v.etag) return false;
    const bare = (t: string) => t.trim().replace(/^W\//, '');
    return inm.trim() === '*' || inm.split(',').some((t) => bare(t) === bare(v.etag!));
  }
  const ims = header(headers, 'if-modified-since');
  if (ims !== undefined && v.lastModified !== undefined) {
    const since = Date.parse(ims);
    return Number.isFinite(since) && Math.floor(v.lastModified / 1000) * 1000 <= since;
  }
  return false;
}

export type RangeResult =
  | { type: 'full' }
  | { type: 'partial'; start: number; end: number }
  | { type: 'unsatisfiable' };

/** A Range whose If-Range no longer matches gets the whole body; a weak entity tag never matches (13.1.5). */
function rangeApplies(headers: RequestHeaders, v: Validators): boolean {
  const ifRange = header(headers, 'if-range')?.trim();
  if (ifRange === undefined) return true;
  if (ifRange.startsWith('"') || ifRange.startsWith('W/')) return !ifRange.startsWith('W/') && ifRange === v.etag;
  const date = Date.parse(ifRange);
  return v.lastModified !== undefined && Number.isFinite(date) && Math.floor(v.lastModified / 1000) * 1000 === date;
}

/**
 * Evaluates a Range header against a body of `size` bytes. Several ranges, another unit or bad syntax
 * get the full body: a 200 is always a valid answer.
 */
export function evaluateRange(headers: RequestHeaders, size: number, v: Validators = {}): RangeResult {
  const text = header(headers, 'range');
  if (text === undefined || !rangeApplies(headers, v)) return { type: 'full' };
  const m = /^bytes=(\d*)-(\d*)$/.exec(text.trim());
  if (!m || (m[1] === '' && m[2] === '')) return { type: 'full' };
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return { type: 'unsatisfiable' };
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return { type: 'full' };
  }
  if (start >= size) return { type: 'unsatisfiable' };
  return { type: 'partial', start, end };
}

export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}
