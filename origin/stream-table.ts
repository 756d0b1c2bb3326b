// Every stream of the origin, by name: loaded from storage at start (a restarted origin continues them),
// opened by its first upload, and swept for retention with one memory budget shared out among them.
import { isValidStreamName } from '../src/stream-path.js';
import { MAX_SUMMARY_RENDITIONS, MAX_SUMMARY_STREAMS, renditionState, streamState, type StreamSummary } from '../src/stream-summary.js';
import type { RenditionSample } from './metrics.js';
import type { PeerFetch } from './peer-fill.js';
import type { PartsProblem } from './segment-parts.js';
import type { Storage, StorageOp } from './storage.js';
import { OriginStream, type PublishedPlaylist, type StreamLimits } from './stream.js';

/** What the origin does with what its streams report (origin/stream-events.ts). */
export interface StreamEvents {
  published(stream: string, path: string, playlist: PublishedPlaylist): void;
  storageFailed(stream: string, op: StorageOp, err: unknown): void;
  /** Low-latency HLS: the parts cut from an upload changed (a part closed, or no more will). */
  partsChanged(stream: string, upload: number): void;
  partsProblem(stream: string, path: string, problem: PartsProblem): void;
}

export class StreamTable {
  private readonly streams = new Map<string, OriginStream>();

  /** With `storage`, each stream's objects live under the key prefix `<name>/`; `salt` and `fromPeer` go to every stream (OriginStream's). */
  constructor(
    private readonly limits: StreamLimits,
    private readonly storage: Storage | undefined,
    private readonly now: () => number,
    private readonly events: StreamEvents,
    private readonly salt = '',
    private readonly fromPeer?: PeerFetch,
  ) {}

  /** Loads every stream that storage holds state for; returns their names. */
  async load(): Promise<string[]> {
    if (this.storage === undefined) return [];
    const loaded: string[] = [];
    for (const name of (await this.storage.list('')).filter(isValidStreamName)) {
      const stream = await OriginStream.load(name, this.limits, this.storage, this.now);
      if (stream) {
        this.add(stream);
        loaded.push(name);
      }
    }
    return loaded;
  }

  get all(): ReadonlyMap<string, OriginStream> {
    return this.streams;
  }

  get(name: string): OriginStream | undefined {
    return this.streams.get(name);
  }

  /** The stream an upload goes to; its first upload creates it. */
  open(name: string): OriginStream {
    return this.streams.get(name) ?? this.add(new OriginStream(name, this.limits, this.storage, this.now));
  }

  private add(stream: OriginStream): OriginStream {
    stream.onPublished = (path, playlist) => this.events.published(stream.name, path, playlist);
    stream.onStorageFailed = (op, err) => this.events.storageFailed(stream.name, op, err);
    stream.onPartsChanged = (upload) => this.events.partsChanged(stream.name, upload);
    stream.onPartsProblem = (path, problem) => this.events.partsProblem(stream.name, path, problem);
    stream.salt = this.salt;
    if (this.fromPeer !== undefined) stream.fromPeer = (name) => this.fromPeer!(stream.name, name);
    this.streams.set(stream.name, stream);
    return stream;
  }

  /** Retention for every stream, each with an equal share of `maxMemoryBytes`. */
  sweep(maxMemoryBytes: number): void {
    const budget = maxMemoryBytes / Math.max(1, this.streams.size);
    for (const stream of this.streams.values()) stream.sweep(budget);
  }

  /** Resolves once every state write issued so far was tried. */
  async flushed(): Promise<void> {
    await Promise.all([...this.streams.values()].map((stream) => stream.flushed()));
  }

  memoryBytes(): number {
    let bytes = 0;
    for (const stream of this.streams.values()) bytes += stream.memoryBytes;
    return bytes;
  }

  /** Every published rendition's newest media sequence and age, for the metrics. */
  renditions(): RenditionSample[] {
    return [...this.streams.values()].flatMap((stream) => stream.publisher.renditionStats().flatMap((r) => {
      const playlist = stream.playlist(r.path);
      return playlist ? [{ stream: stream.name, rendition: r.path, msn: r.msn, ageSeconds: (this.now() - playlist.at) / 1000 }] : [];
    }));
  }

  /**
   * Every stream with its renditions, for `GET /api/streams` (the LB's dashboard and player pages): the
   * most recently published first, at most MAX_SUMMARY_STREAMS of them.
   */
  summaries(): StreamSummary[] {
    const now = this.now();
    const all = [...this.streams.values()].map((stream) => {
      const renditions = stream.publisher.renditionStats().flatMap((r) => {
        const playlist = stream.playlist(r.path);
        if (!playlist) return [];
        const ageSeconds = Math.max(0, (now - playlist.at) / 1000);
        return [{
          path: r.path, mediaSequence: r.msn, ageSeconds, targetDuration: r.targetDuration, epoch: r.epoch,
          bandwidth: r.bandwidth ?? null, averageBandwidth: r.averageBandwidth ?? null, lowLatency: r.lowLatency,
          state: renditionState(ageSeconds, r.targetDuration, r.endList),
        }];
      }).slice(0, MAX_SUMMARY_RENDITIONS);
      const summary: StreamSummary = {
        name: stream.name, state: streamState(renditions), restarts: stream.publisher.restarts,
        masters: stream.publisher.masterPaths().slice(0, MAX_SUMMARY_RENDITIONS), renditions,
      };
      return { summary, newest: Math.min(Infinity, ...renditions.map((r) => r.ageSeconds)) };
    });
    return all.sort((a, b) => a.newest - b.newest).slice(0, MAX_SUMMARY_STREAMS).map((s) => s.summary);
  }
}
