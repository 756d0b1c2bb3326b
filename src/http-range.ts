// Conditional requests (RFC 9110 13) and single byte ranges (RFC 9110 14), shared by every role that serves bytes.

export interface Validators {
  etag?: string;
  /** ms since epoch */
  lastModified?: number;
}

/** True when the client's cached copy is current: answer 304. */
export function notModified(headers: Headers, v: Validators): boolean {
  const inm = headers.get('if-none-match');
  if (inm !== null) {
    if (!v.etag) return false;
    const weak = (t: string) => t.trim().replace(/^W\//, '');
    return inm.trim() === '*' || inm.split(',').some((t) => weak(t) === weak(v.etag!));
  }
  const ims = headers.get('if-modified-since');
  if (ims !== null && v.lastModified !== undefined) {
    const since = Date.parse(ims);
    return Number.isFinite(since) && Math.floor(v.lastModified / 1000) * 1000 <= since;
  }
  return false;
}

export type RangeResult =
  | { type: 'full' }
  | { type: 'partial'; start: number; end: number }
  | { type: 'unsatisfiable' };

/** Evaluates a Range header against a body of `size` bytes; multi-range requests get the full body. */
export function evaluateRange(headers: Headers, size: number, v: Validators = {}): RangeResult {
  const header = headers.get('range');
  if (header === null) return { type: 'full' };
  const ifRange = headers.get('if-range');
  if (ifRange !== null && (!v.etag || ifRange.trim() !== v.etag)) return { type: 'full' };
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
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
    if (start > end && m[2] !== '') return { type: 'full' };
  }
  if (start >= size) return { type: 'unsatisfiable' };
  return { type: 'partial', start, end };
}

export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}
