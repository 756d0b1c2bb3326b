// How late a stream's EXT-X-PROGRAM-DATE-TIME runs against the capture clock, bounded from below without
// reading the picture: a segment cannot be listed complete before its last frame was captured, so its
// first frame was captured no later than `listed - EXTINF`, and `PDT - (listed - EXTINF)` is at most how
// late PDT is. The probe polls a media playlist (at the origin: no cache between) and keeps the largest
// such bound over the segments it sees appear. A player's `now - playingDate` plus this bound is a lower
// bound on its glass-to-player latency (low by the pipeline: encode, upload, publish, ~0.1-0.2 s).
// The origin dates LL segments by the producer's `prft` (docs/low-latency.md, section 3 point 8), ~0.05-0.07
// s after capture, so for LL the bound is now mostly the publishing delay; plain HLS keeps the muxer's PDT.
export interface PdtProbe {
  /** Seconds; > 0: PDT is at least this late; < 0: it may be up to this early. Undefined until a segment appeared. */
  lateByAtLeast(): number | undefined;
  stop(): void;
}

/** The first media playlist a master names, resolved against the master's URL. */
export async function firstMediaPlaylist(masterUrl: string): Promise<string> {
  const text = await (await fetch(masterUrl)).text();
  const uri = text.split('\n').find((l) => l !== '' && !l.startsWith('#'));
  if (!uri) throw new Error(`no variant in ${masterUrl}`);
  return new URL(uri.trim(), masterUrl).href;
}

/** Complete segments of a media playlist: URI -> [PDT ms, EXTINF ms] (only those listed with a PDT). */
function segmentsOf(text: string): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  let pdt: number | undefined;
  let extinf: number | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) pdt = Date.parse(line.slice('#EXT-X-PROGRAM-DATE-TIME:'.length));
    else if (line.startsWith('#EXTINF:')) extinf = Number.parseFloat(line.slice('#EXTINF:'.length)) * 1000;
    else if (line !== '' && !line.startsWith('#')) {
      if (pdt !== undefined && extinf !== undefined && Number.isFinite(pdt)) out.set(line.trim(), [pdt, extinf]);
      pdt = undefined;
      extinf = undefined;
    }
  }
  return out;
}

export function probePdt(playlistUrl: string, pollMs = 50): PdtProbe {
  let known: Set<string> | undefined;
  let best: number | undefined;
  let stopped = false;
  const poll = async (): Promise<void> => {
    while (!stopped) {
      try {
        const segments = segmentsOf(await (await fetch(playlistUrl)).text());
        const listed = Date.now();
        if (known) {
          for (const [uri, [pdt, extinf]] of segments) {
            if (known.has(uri)) continue;
            const late = pdt - (listed - extinf);
            best = best === undefined ? late : Math.max(best, late);
          }
        }
        known = new Set(segments.keys());
      } catch { /* the stack may be restarting a role: poll again */ }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  };
  void poll();
  return { lateByAtLeast: () => (best === undefined ? undefined : best / 1000), stop: () => { stopped = true; } };
}
