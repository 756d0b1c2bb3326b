// A simulated encoder for recording tests: uploads segments and playlists (with EXT-X-PROGRAM-DATE-TIME,
// like the transcoder's ffmpeg) into an in-process origin through its upload path, as fast as the origin
// takes them, and knows the bytes and times of every segment it sent. A restart starts the names over
// (seg0 again), which the origin publishes as a discontinuity.
import type { Origin } from '../../origin/index.js';

export interface SentSegment {
  rendition: string;
  run: number;
  k: number;
  pdt: number;
  dur: number;
  body: string;
}

export class RecordingEncoder {
  /** Every segment sent, oldest first (tests keep runs short enough for this list). */
  readonly sent: SentSegment[] = [];
  private run = 0;
  private k = 0;
  private t: number;
  private ended = false;

  constructor(
    private origin: Origin,
    readonly stream: string,
    readonly renditions: string[] = ['v0'],
    private readonly opts: { dur?: number; listSize?: number; start?: number; keepSent?: boolean; fmp4?: boolean } = {},
  ) {
    this.t = opts.start ?? Date.UTC(2026, 0, 1);
  }

  /** Segments of the current run (an ENDLIST without any ends nothing: the origin publishes no empty playlist). */
  get runSegments(): number {
    return this.k;
  }

  get dur(): number {
    return this.opts.dur ?? 1;
  }

  /** The origin uploads go to (after an origin restart). */
  use(origin: Origin): void {
    this.origin = origin;
  }

  async put(path: string, body: string): Promise<number> {
    const res = await this.origin.app.request(`/hls/${this.stream}/${path}`, { method: 'PUT', body });
    await res.arrayBuffer();
    return res.status;
  }

  async master(): Promise<void> {
    const lines = this.renditions.flatMap((r, i) => [`#EXT-X-STREAM-INF:BANDWIDTH=${(i + 1) * 100000}`, `${r}/index.m3u8`]);
    await this.expect(this.put('index.m3u8', `#EXTM3U\n${lines.join('\n')}\n`));
  }

  /** The init section of a rendition in a run (fMP4): other bytes every run. */
  initBody(rendition: string, run: number): string {
    return `init ${this.stream} ${rendition} run ${run}`;
  }

  private get ext(): string {
    return this.opts.fmp4 ? 'm4s' : 'ts';
  }

  /** The next segment of every rendition, then each playlist naming it. */
  async segment(): Promise<void> {
    if (this.opts.fmp4 && this.k === 0) for (const r of this.renditions) await this.expect(this.put(`${r}/init.mp4`, this.initBody(r, this.run)));
    const k = this.k++;
    const pdt = this.t;
    this.t += this.dur * 1000;
    this.ended = false;
    for (const r of this.renditions) {
      const body = `${this.stream} ${r} run ${this.run} segment ${k} `.padEnd(64, '.');
      if (this.opts.keepSent !== false) this.sent.push({ rendition: r, run: this.run, k, pdt, dur: this.dur, body });
      await this.expect(this.put(`${r}/seg${k}.${this.ext}`, body));
      await this.expect(this.put(`${r}/index.m3u8`, this.playlist(r)));
    }
  }

  /** EXT-X-ENDLIST on every rendition's playlist. */
  async end(): Promise<void> {
    this.ended = true;
    for (const r of this.renditions) await this.expect(this.put(`${r}/index.m3u8`, this.playlist(r)));
  }

  /** The encoder starts over: the same names from seg0 (after `gapMs` of no picture). */
  restart(gapMs = 0): void {
    this.run++;
    this.k = 0;
    this.t += gapMs;
  }

  private playlist(r: string): string {
    const size = this.opts.listSize ?? 3;
    const first = Math.max(0, this.k - size);
    const lines = ['#EXTM3U', `#EXT-X-TARGETDURATION:${Math.ceil(this.dur)}`, `#EXT-X-MEDIA-SEQUENCE:${first}`, ...(this.opts.fmp4 ? ['#EXT-X-MAP:URI="init.mp4"'] : [])];
    for (let k = first; k < this.k; k++) {
      lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(this.t - (this.k - k) * this.dur * 1000).toISOString()}`, `#EXTINF:${this.dur},`, `seg${k}.${this.ext}`);
    }
    if (this.ended) lines.push('#EXT-X-ENDLIST');
    return `${lines.join('\n')}\n`;
  }

  private async expect(status: Promise<number>): Promise<void> {
    const got = await status;
    if (got !== 201 && got !== 204 && got !== 200) throw new Error(`upload answered ${got}`);
  }
}
