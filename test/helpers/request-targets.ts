// Raw request targets for attacking the path validator (src/stream-path.ts) and the roles behind it:
// mostly well-formed stream paths, with the pieces path confusion is made of mixed in.
import fc from 'fast-check';

const hostilePiece = fc.constantFrom(
  '.', '..', '%2e', '%2E', '.%2e', '%2e.', '%2E%2E', '%2f', '%2F', '%5c', '%5C', '%00', '%41', '%', '%z', '%zz', '%3F', '%23',
  '\\', ';', ';x', '?', '#', '&', '=', ' ', '\t', "'", '"', '<', '|', '{', '~', '@', ':', '*',
  'é', '\u2024', '\uff0e', '\u3002', '\ufe52', '😀', '\u0000', '\u00a0', '\u202e',
);
const validName = fc.stringMatching(/^[A-Za-z0-9._-]{1,8}$/);
const segment = fc.oneof(
  { weight: 24, arbitrary: fc.oneof(validName, fc.constantFrom('demo', 't', 'seg0.ts', 'index.m3u8', '720p', '.', '..')) },
  // URL tokens (src/url-token.ts), taken only right after the stream name (where `token` below puts them too).
  { weight: 1, arbitrary: fc.constantFrom('~sAbCdEfGhIjKlMnOp', '~e1~kX', '~', '~~', '~e', '~e1~', '~x.y_z-1') },
  { weight: 3, arbitrary: fc.tuple(validName, hostilePiece, fc.nat()).map(([name, piece, at]) => {
    const i = at % (name.length + 1);
    return name.slice(0, i) + piece + name.slice(i);
  }) },
  { weight: 1, arbitrary: hostilePiece },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 3 }) },
);
const separator = fc.oneof({ weight: 10, arbitrary: fc.constant('/') }, { weight: 1, arbitrary: fc.constantFrom('//', '\\', '%2f', '/./', '/../', '/%2e%2e/', '/.%2e/') });
const prefix = fc.oneof(
  { weight: 12, arbitrary: fc.constant('/hls/') },
  { weight: 1, arbitrary: fc.constantFrom('/', '//hls/', '/hls', '/hls/./', 'http://h/hls/', 'hls/', '\\hls\\', '/HLS/', '', '*', '/%68ls/') },
);
const suffix = fc.oneof(
  { weight: 6, arbitrary: fc.constant('') },
  { weight: 2, arbitrary: fc.constantFrom('?_HLS_msn=1&_HLS_part=0', '?', '?a=%2e%2e/b?c', "?t='x'", '?x=%zz', '#f', '?a#b', '/', '?x=é') },
);

const streamName = fc.oneof({ weight: 8, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/) }, { weight: 1, arbitrary: segment });

/** A raw request target, as a client could put it on the request line. */
const token = fc.oneof({ weight: 2, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('/~e1~kX', '/~sAbCdEfGhIjKlMnOp', '/~e1~', '/~') });
export const hostileTarget = fc.tuple(prefix, streamName, token, fc.array(fc.tuple(separator, segment), { maxLength: 5 }), suffix)
  // A token needs a path after it, which an empty list of parts would rarely give it.
  .map(([start, stream, tok, parts, end]) => start + stream + tok + (tok !== '' && parts.length === 0 ? '/index.m3u8' : parts.map(([sep, s]) => sep + s).join('')) + end);
