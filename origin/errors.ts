// Why the origin refuses or fails an upload: one closed set of reasons, each with its HTTP status, used at
// once as the response status, the `reason` metric label and the log field. Anything thrown that is not an
// OriginError is a bug in the origin and answered 500 by the app's error handler, never blamed on the uploader.
import { PlaylistError } from '../src/playlist.js';
import { UploadBodyError } from '../src/upload-body.js';

export const REASON_STATUS = {
  bad_path: 400,
  /** Under a directory of recordings (origin/recording-paths.ts). */
  reserved_path: 400,
  unauthorized: 401,
  forbidden: 403,
  too_large: 413,
  idle_timeout: 408,
  aborted: 400,
  length_mismatch: 400,
  bad_playlist: 400,
  bad_encoding: 400,
  bad_number: 400,
  bad_uri: 400,
  duration_too_long: 400,
  /** A `Cascade-Feed` header that is not a feed id (`[A-Za-z0-9_-]{1,64}`). */
  bad_feed: 400,
  /** A path that was a master playlist becomes a media playlist, or back. */
  type_changed: 409,
  /** The operator's hook failed: not the uploader's fault. */
  hook_failed: 500,
  /** RFC 4918 11.5: the server cannot store the representation (full disk, I/O error). */
  storage_failed: 507,
} as const;

export type RejectReason = keyof typeof REASON_STATUS;
export type RejectStatus = (typeof REASON_STATUS)[RejectReason];

export class OriginError extends Error {
  override name = 'OriginError';

  constructor(readonly reason: RejectReason, message: string, options?: ErrorOptions) {
    super(message, options);
  }

  get status(): RejectStatus {
    return REASON_STATUS[this.reason];
  }
}

/** The refusals of the playlist parser and the publisher, as origin errors; anything else is returned as is. */
export function asOriginError(err: unknown): unknown {
  if (err instanceof PlaylistError || err instanceof UploadBodyError) return new OriginError(err.reason, err.message, { cause: err });
  return err;
}
