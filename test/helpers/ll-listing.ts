// Reading a published low-latency media playlist the way a test wants it: each segment with the parts
// listed before it, the parts after the last segment, the preload hint. Written apart from src/playlist.ts
// so that a check does not share the parser's mistakes.

/** The attributes of every `tag` line (a quoted value unquoted). */
export function tags(playlist: string, tag: string): Record<string, string>[] {
  return playlist.split('\n').filter((l) => l.startsWith(`#${tag}:`)).map((l) => Object.fromEntries(
    [...l.slice(tag.length + 2).matchAll(/([A-Z0-9-]+)=("[^"]*"|[^,]*)/g)].map((m) => [m[1]!, m[2]!.replace(/^"|"$/g, '')]),
  ));
}

export interface Listing {
  mediaSequence: number;
  /** Media sequence number of the last segment. */
  lastMsn: number;
  /** Segments in order: URI, discontinuity, the attributes of the parts listed before it. */
  segments: { uri: string; discontinuity: boolean; parts: Record<string, string>[] }[];
  /** Parts after the last segment (of the segment being written). */
  partial: Record<string, string>[];
  hint: string | undefined;
  /** The last EXT-X-MAP URI. */
  map: string | undefined;
}

export function listing(text: string): Listing {
  const segments: Listing['segments'] = [];
  let parts: Record<string, string>[] = [];
  let discontinuity = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('#EXT-X-PART:')) parts.push(tags(line, 'EXT-X-PART')[0]!);
    else if (line === '#EXT-X-DISCONTINUITY') discontinuity = true;
    else if (line !== '' && !line.startsWith('#')) {
      segments.push({ uri: line, discontinuity, parts });
      parts = [];
      discontinuity = false;
    }
  }
  const mediaSequence = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1] ?? 0);
  return {
    mediaSequence, lastMsn: mediaSequence + segments.length - 1, segments, partial: parts,
    hint: tags(text, 'EXT-X-PRELOAD-HINT')[0]?.URI, map: tags(text, 'EXT-X-MAP').at(-1)?.URI,
  };
}
