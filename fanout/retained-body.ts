// One upload's body as the fan-out receives it: kept whole while any origin still sends or may resend it,
// read by each origin from the start as it arrives. The uploader is never held back by an origin; a reader
// that falls more than its bound behind the fastest one is cut (its origin loses that upload: it stalls,
// or is far slower than its peers), so a slow origin never delays the others. A body that fails fails
// every reader, so no origin ever gets a truncated body as complete.

/** Thrown into a reader that fell too far behind. */
export class TooSlow extends Error {
  override name = 'TooSlow';
}

/** Thrown into readers when the uploader's body broke off. */
export class BodyFailed extends Error {
  override name = 'BodyFailed';
}

class AbortedRead extends Error {}

interface Reader {
  sent: number;
  maxLag: number;
  /** Parked for the next chunk: it took everything there was, and takes the new chunk in the same turn. */
  waiting: boolean;
  cut: (err: Error) => void;
}

export class RetainedBody {
  private readonly chunks: Buffer[] = [];
  private readonly readers = new Set<Reader>();
  private wake: (() => void)[] = [];
  size = 0;
  state: 'open' | 'complete' | 'failed' = 'open';
  /** When it completed or failed (ms since epoch). */
  endedAt: number | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    this.notify();
  }

  end(): void {
    this.settle('complete');
  }

  fail(): void {
    this.settle('failed');
    for (const r of this.readers) r.cut(new BodyFailed('the upload broke off'));
  }

  /**
   * Cuts readers too far behind the fastest. A parked reader is not behind by its own pace, only not yet
   * scheduled: the chunk a faster reader took in this turn is on its way to it too.
   */
  private checkLag(): void {
    let fastest = 0;
    for (const r of this.readers) fastest = Math.max(fastest, r.sent);
    for (const r of this.readers) if (!r.waiting && fastest - r.sent > r.maxLag) r.cut(new TooSlow(`more than ${r.maxLag} bytes behind the fastest origin`));
  }

  private settle(state: 'complete' | 'failed'): void {
    if (this.state !== 'open') return;
    this.state = state;
    this.endedAt = this.now();
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = [];
    for (const w of wake) w();
  }

  /**
   * The body from its first byte, as it arrives; throws TooSlow once this reader (its consumer's pace)
   * lags more than `maxLag` bytes behind the fastest reader, BodyFailed when the upload broke off; `onCut` hears of either at once
   * (the consumer may not be pulling: a stalled origin's request must be aborted). `signal` ends it early.
   */
  async *read(maxLag: number, signal: AbortSignal, onCut: (err: Error) => void): AsyncGenerator<Buffer> {
    let failure: Error | undefined;
    let interrupt: (() => void) | undefined;
    // A resend starts behind the others by what they sent: it reads that from memory; only what it falls behind since counts.
    let ahead = 0;
    for (const r of this.readers) ahead = Math.max(ahead, r.sent);
    const reader: Reader = {
      sent: 0, maxLag: maxLag + ahead, waiting: false,
      cut: (err) => {
        if (failure !== undefined) return;
        failure = err;
        interrupt?.();
        if (!(err instanceof AbortedRead)) onCut(err);
      },
    };
    const onAbort = () => reader.cut(new AbortedRead('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    this.readers.add(reader);
    try {
      for (let i = 0; ; i++) {
        while (i >= this.chunks.length && this.state === 'open' && failure === undefined) {
          reader.waiting = true;
          await new Promise<void>((resolve) => {
            interrupt = resolve;
            this.wake.push(resolve);
          });
          reader.waiting = false;
          interrupt = undefined;
        }
        if (failure !== undefined) throw failure;
        if (this.state === 'failed') throw new BodyFailed('the upload broke off');
        if (i >= this.chunks.length) return;
        const chunk = this.chunks[i]!;
        reader.sent += chunk.length;
        this.checkLag();
        yield chunk;
        if (failure !== undefined) throw failure;
      }
    } finally {
      this.readers.delete(reader);
      signal.removeEventListener('abort', onAbort);
    }
  }
}
