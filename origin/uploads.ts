// Every upload of every uploaded path of a stream: the ones in progress and the completed version.
//
// Several uploads of one path may overlap (an encoder retrying a slow PUT, a restarted encoder while its
// predecessor's PUT still trickles in). Which one a path means is decided by start order, the order in which
// upload ids are assigned: THE UPLOAD THAT STARTED LAST WINS. So
// - the path's current upload is its newest upload that has not failed: while that one is still being
//   written, the path is "being written" and the publisher waits for it, even if an older one completed;
// - an upload that completes after a newer one of its path completed is superseded: it changes nothing (its
//   readers still get its whole body; it is never published, and a playlist never binds to it);
// - if the newest upload fails, the path falls back to the newest one left (in progress or complete).
// Start order rather than completion order because it is what the uploader meant (the later PUT is the newer
// content), because an old upload finishing late can then never replace what was published (and be taken
// for an encoder restart), and because it is a function of arrival order, so origins fed the same uploads
// decide the same. Every upload in progress stays tracked until it ends, so retention never drops one.
import type { UploadVersion } from './upload-version.js';

interface PathUploads {
  complete?: UploadVersion;
  /** Id of the newest upload that completed, even once `complete` was forgotten (DELETE, retention). */
  done: number;
  /** In progress, oldest first (ids grow with start order). Older than `done`: superseded, still tracked. */
  writing: UploadVersion[];
}

export class UploadTable {
  private readonly paths = new Map<string, PathUploads>();

  begin(blob: UploadVersion): void {
    const p = this.paths.get(blob.path) ?? { done: -1, writing: [] };
    p.writing.push(blob);
    this.paths.set(blob.path, p);
  }

  /** True when a newer upload of the path has completed: this one must change nothing. */
  isSuperseded(blob: UploadVersion): boolean {
    return (this.paths.get(blob.path)?.done ?? -1) > blob.id;
  }

  /**
   * The upload's body is complete and stored: it becomes the path's complete version, unless it is
   * superseded. Returns false for a superseded upload, which is no longer tracked.
   */
  complete(blob: UploadVersion): boolean {
    const p = this.end(blob);
    if (p === undefined || p.done > blob.id) return false;
    p.complete = blob;
    p.done = blob.id;
    this.paths.set(blob.path, p);
    return true;
  }

  /** The upload failed: forget it; the path falls back to what is left. */
  abort(blob: UploadVersion): void {
    this.end(blob);
  }

  /**
   * Stops tracking an upload in progress. A path with nothing left is forgotten, its `done` with it:
   * there is nothing left that it could supersede.
   */
  private end(blob: UploadVersion): PathUploads | undefined {
    const p = this.paths.get(blob.path);
    if (!p) return undefined;
    const i = p.writing.indexOf(blob);
    if (i !== -1) p.writing.splice(i, 1);
    if (p.complete === undefined && p.writing.length === 0) this.paths.delete(blob.path);
    return p;
  }

  /**
   * The upload the path means now: its newest that has not failed (see above), in progress or complete.
   * With `before`, the one it meant when uploads from that id on had not started yet, as far as it is still
   * known: undefined if a newer upload completed since (the older ones are superseded).
   */
  current(path: string, before = Number.POSITIVE_INFINITY): UploadVersion | undefined {
    const p = this.paths.get(path);
    if (!p) return undefined;
    const writing = p.writing.findLast((b) => b.id < before);
    if (writing !== undefined && writing.id > p.done) return writing;
    return p.done < before ? p.complete : undefined;
  }

  /** Forgets the completed version of a path (DELETE, retention); uploads in progress stay. */
  forget(path: string): UploadVersion | undefined {
    const p = this.paths.get(path);
    const blob = p?.complete;
    if (!p || !blob) return undefined;
    delete p.complete;
    if (p.writing.length === 0) this.paths.delete(path);
    return blob;
  }

  /** How many paths are tracked (bounded by the paths with a completed version or an upload in progress). */
  get size(): number {
    return this.paths.size;
  }

  /** Every upload tracked: completed versions and everything in progress. */
  *blobs(): Generator<UploadVersion> {
    for (const p of this.paths.values()) {
      if (p.complete) yield p.complete;
      yield* p.writing;
    }
  }

  /** [path, completed version] for every path that has one. */
  *completedPaths(): Generator<[string, UploadVersion]> {
    for (const [path, p] of this.paths) if (p.complete) yield [path, p.complete];
  }

  /** Restores a completed version (loading persisted state). */
  restore(blob: UploadVersion): void {
    this.paths.set(blob.path, { complete: blob, done: blob.id, writing: [] });
  }
}
