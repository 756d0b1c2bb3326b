// Content types for what HLS streams carry.
const TYPES: Record<string, string> = {
  m3u8: 'application/vnd.apple.mpegurl',
  ts: 'video/mp2t',
  m4s: 'video/iso.segment',
  mp4: 'video/mp4',
  m4a: 'audio/mp4',
  m4v: 'video/mp4',
  aac: 'audio/aac',
  ac3: 'audio/ac3',
  ec3: 'audio/eac3',
  mp3: 'audio/mpeg',
  vtt: 'text/vtt; charset=utf-8',
  webvtt: 'text/vtt; charset=utf-8',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  json: 'application/json',
  key: 'application/octet-stream',
};

export function extensionOf(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot <= 0 ? '' : base.slice(dot + 1).toLowerCase();
}

export function contentTypeFor(path: string): string {
  return TYPES[extensionOf(path)] ?? 'application/octet-stream';
}

export function isPlaylistPath(path: string): boolean {
  return extensionOf(path) === 'm3u8';
}

/** What players fetch besides playlists: segments, init sections, keys, subtitles. */
const MEDIA_EXTENSIONS = new Set(['ts', 'm4s', 'mp4', 'm4a', 'm4v', 'aac', 'ac3', 'ec3', 'mp3', 'vtt', 'webvtt', 'key']);

export function isMediaPath(path: string): boolean {
  return MEDIA_EXTENSIONS.has(extensionOf(path));
}

function mediaTypeOf(contentType: string): string {
  return contentType.split(';')[0]!.trim().toLowerCase();
}

/** RFC 8216 §4: `application/vnd.apple.mpegurl` or `audio/mpegurl`; the `x-` forms are still common. */
export function isPlaylistType(contentType: string): boolean {
  return ['application/vnd.apple.mpegurl', 'audio/mpegurl', 'application/x-mpegurl', 'audio/x-mpegurl'].includes(mediaTypeOf(contentType));
}

export function isMediaType(contentType: string): boolean {
  const type = mediaTypeOf(contentType);
  return type.startsWith('video/') || type.startsWith('audio/') || type === 'text/vtt';
}
