// Parsers for the response fields a shared cache decides by (RFC 9111, RFC 9110 §5.6). Pure and strict:
// whatever does not match the grammar is reported as invalid, and the policy in freshness.ts decides
// what invalid means (mostly: stale).

/** RFC 9111 §1.2.2: a delta-seconds value too large to represent is taken as 2^31. */
export const MAX_DELTA_SECONDS = 2 ** 31;

/** A directive's seconds argument, or 'invalid' (not delta-seconds, or conflicting repeats). */
export type DeltaSeconds = number | 'invalid';

export interface CacheControl {
  noStore: boolean;
  noCache: boolean;
  private: boolean;
  public: boolean;
  immutable: boolean;
  mustRevalidate: boolean;
  proxyRevalidate: boolean;
  maxAge?: DeltaSeconds;
  sMaxAge?: DeltaSeconds;
  /** RFC 5861 §4: how long past freshness the response may be served when the origin fails. */
  staleIfError?: DeltaSeconds;
}

/** RFC 9110 §5.6.2 tchar. */
const TCHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;

/** One list member of a parameterised field: its name (lower case) and argument, or `malformed`. */
interface Directive { name: string; arg?: string; malformed: boolean }

/**
 * Splits a Cache-Control field value (every field line already combined with ", ", RFC 9110 §5.3) into
 * directives: `token [ "=" ( token / quoted-string ) ]` (RFC 9111 §5.2). Commas inside quoted strings do
 * not split, so `extension="max-age=3600"` is not a max-age. A member that breaks the grammar (a space
 * before or after `=`, text after the argument) keeps its name but is marked malformed.
 */
function directives(value: string): Directive[] {
  const out: Directive[] = [];
  let i = 0;
  const skipSpace = () => { while (value[i] === ' ' || value[i] === '\t') i++; };
  const token = () => {
    const start = i;
    while (i < value.length && TCHAR.test(value[i]!)) i++;
    return value.slice(start, i);
  };
  const skipMember = () => {
    let quoted = false;
    for (; i < value.length; i++) {
      const ch = value[i];
      if (quoted && ch === '\\') i++;
      else if (ch === '"') quoted = !quoted;
      else if (ch === ',' && !quoted) break;
    }
  };
  while (i < value.length) {
    skipSpace();
    if (value[i] === ',') { i++; continue; }
    if (i >= value.length) break;
    const name = token().toLowerCase();
    let arg: string | undefined;
    let malformed = name === '';
    if (!malformed && value[i] === '=') {
      i++;
      if (value[i] === '"') {
        let text = '';
        let closed = false;
        for (i++; i < value.length; i++) {
          const ch = value[i]!;
          if (ch === '\\' && i + 1 < value.length) text += value[++i];
          else if (ch === '"') { closed = true; i++; break; } else text += ch;
        }
        arg = text;
        malformed = !closed;
      } else {
        arg = token();
        malformed = arg === '';
      }
    }
    skipSpace();
    if (i < value.length && value[i] !== ',') {
      malformed = true;
      skipMember();
    }
    if (name !== '') out.push({ name, ...(arg !== undefined ? { arg } : {}), malformed });
  }
  return out;
}

/** RFC 9111 §1.2.2 delta-seconds = 1*DIGIT; anything else is invalid. */
export function parseDeltaSeconds(text: string | undefined): DeltaSeconds {
  if (text === undefined || !/^\d+$/.test(text)) return 'invalid';
  return Math.min(Number(text), MAX_DELTA_SECONDS);
}

export function parseCacheControl(value: string | undefined): CacheControl {
  const cc: CacheControl = { noStore: false, noCache: false, private: false, public: false, immutable: false, mustRevalidate: false, proxyRevalidate: false };
  if (value === undefined) return cc;
  const seconds = new Map<'maxAge' | 'sMaxAge' | 'staleIfError', DeltaSeconds[]>();
  const addSeconds = (key: 'maxAge' | 'sMaxAge' | 'staleIfError', d: Directive) => {
    const list = seconds.get(key) ?? [];
    list.push(d.malformed ? 'invalid' : parseDeltaSeconds(d.arg));
    seconds.set(key, list);
  };
  for (const d of directives(value)) {
    switch (d.name) {
      // A malformed no-store or private still says what it says: the restrictive reading is the safe one.
      case 'no-store': cc.noStore = true; break;
      case 'no-cache': cc.noCache = true; break;
      case 'private': cc.private = true; break;
      case 'public': cc.public = true; break;
      case 'immutable': cc.immutable = true; break;
      case 'must-revalidate': cc.mustRevalidate = true; break;
      case 'proxy-revalidate': cc.proxyRevalidate = true; break;
      case 'max-age': addSeconds('maxAge', d); break;
      case 's-maxage': addSeconds('sMaxAge', d); break;
      case 'stale-if-error': addSeconds('staleIfError', d); break;
    }
  }
  for (const [key, values] of seconds) {
    // RFC 9111 §4.2.1: "When there is more than one value present for a given directive (e.g., two
    // Expires header field lines or multiple Cache-Control: max-age directives), either the first
    // occurrence should be used or the response should be considered stale." A shared cache takes the
    // safe choice: differing values are invalid, i.e. stale. Repeating one value is one value (nginx's
    // `expires` next to an `add_header` with the same max-age).
    cc[key] = values.every((v) => v === values[0]) ? values[0]! : 'invalid';
  }
  return cc;
}

/** RFC 8941 §3.3 bare items: Integer, Decimal, String, Token, Byte Sequence, Boolean. */
const SF_ITEM = /^(?:-?\d{1,15}|-?\d{1,12}\.\d{1,3}|"(?:[\x20-\x21\x23-\x5b\x5d-\x7e]|\\["\\])*"|[A-Za-z*][!#$%&'*+\-.^_`|~:/A-Za-z0-9]*|:[A-Za-z0-9+/=]*:|\?[01])$/;
const SF_KEY = /^[a-z*][a-z0-9_\-.*]*$/;
const SF_MEMBER = /^([^=;]+)(?:=([^;]*))?((?:;.*)?)$/;

/**
 * RFC 9213's targeted fields (`CDN-Cache-Control`) are Structured Field Dictionaries (RFC 8941 §3.2):
 * "If the targeted field ... is not a valid Dictionary, the cache MUST ignore it" — undefined then. A
 * directive whose argument has the wrong type (`max-age="10000"` is a String, not an Integer) is ignored.
 */
export function parseTargetedCacheControl(value: string): CacheControl | undefined {
  const kept: string[] = [];
  for (const member of splitOutsideQuotes(value)) {
    const m = SF_MEMBER.exec(member.trim());
    if (!m) return undefined;
    const [, key = '', item, params = ''] = m;
    if (!SF_KEY.test(key) || (item !== undefined && !SF_ITEM.test(item))) return undefined;
    for (const p of params.split(';').slice(1)) {
      const [pk, pv] = p.trim().split('=');
      if (!SF_KEY.test(pk ?? '') || (pv !== undefined && !SF_ITEM.test(pv))) return undefined;
    }
    const seconds = key === 'max-age' || key === 's-maxage' || key === 'stale-if-error';
    if (seconds && !/^\d+$/.test(item ?? '')) continue;
    kept.push(item === undefined ? key : `${key}=${item}`);
  }
  return parseCacheControl(kept.join(', '));
}

function splitOutsideQuotes(value: string): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (quoted && ch === '\\') i++;
    else if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      out.push(value.slice(start, i));
      start = i + 1;
    }
  }
  out.push(value.slice(start));
  return out;
}

/**
 * RFC 9111 §5.1: "a cache encountering a message with a list-based Age field value SHOULD use the first
 * member of the field value, discarding subsequent ones. If the field value (after discarding additional
 * members, as per above) is invalid (e.g., it contains something other than a non-negative integer), a
 * cache SHOULD ignore the field." Returns seconds, or undefined when absent or ignored.
 */
export function parseAge(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const first = value.split(',')[0]!.trim();
  const seconds = parseDeltaSeconds(first);
  return seconds === 'invalid' ? undefined : seconds;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const LONG_DAY = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTH = `(?<month>${MONTHS.join('|')})`;
const TIME = '(?<hh>\\d{2}):(?<mm>\\d{2}):(?<ss>\\d{2})';
const IMF_FIXDATE = new RegExp(`^${DAY}, (?<day>\\d{2}) ${MONTH} (?<year>\\d{4}) ${TIME} GMT$`);
const RFC850 = new RegExp(`^${LONG_DAY}, (?<day>\\d{2})-${MONTH}-(?<yy>\\d{2}) ${TIME} GMT$`);
const ASCTIME = new RegExp(`^${DAY} ${MONTH} (?<day>[ \\d]\\d) ${TIME} (?<year>\\d{4})$`);

/**
 * RFC 9110 §5.6.7 HTTP-date in its three formats (recipients MUST accept all three), in ms since the
 * epoch; undefined for anything else. JavaScript's Date.parse accepts far more ("0", "2026", local
 * times), which RFC 9111 §5.3 says must count as "already expired", not as a date.
 */
export function parseHttpDate(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  const g = (IMF_FIXDATE.exec(text) ?? RFC850.exec(text) ?? ASCTIME.exec(text))?.groups;
  if (g === undefined) return undefined;
  let year = Number(g.year);
  if (g.yy !== undefined) {
    // RFC 9110 §5.6.7: a two-digit year that "appears to be more than 50 years in the future" is the
    // most recent past year with the same last two digits.
    const thisYear = new Date(now).getUTCFullYear();
    year = Math.floor(thisYear / 100) * 100 + Number(g.yy);
    if (year > thisYear + 50) year -= 100;
  }
  const day = Number(g.day!.trim());
  const [hh, mm, ss] = [Number(g.hh), Number(g.mm), Number(g.ss)];
  const ms = Date.UTC(year, MONTHS.indexOf(g.month!), day, hh, mm, ss);
  // Date.UTC rolls 31 Feb over into March, 25:00 into the next day: those are not dates.
  const back = new Date(ms);
  if (back.getUTCDate() !== day || back.getUTCHours() !== hh || back.getUTCMinutes() !== mm || ss > 60) return undefined;
  return ms;
}

/** The lower-cased members of a Vary value; `*` stays `*`. */
export function varyMembers(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
}
