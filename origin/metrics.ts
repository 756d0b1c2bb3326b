// The origin's metrics (docs/origin.md, "Metrics"): uploads and bytes by stream and kind, rejections by
// reason, restarts, published media sequence and playlist age per rendition, requests held (LL-HLS).
import { Metrics } from '../src/metrics.js';
import { extensionOf } from '../src/media-types.js';

export type UploadKind = 'playlist' | 'segment' | 'init' | 'other';

export function uploadKind(path: string): UploadKind {
  const ext = extensionOf(path);
  if (ext === 'm3u8') return 'playlist';
  if (/init/i.test(path.slice(path.lastIndexOf('/') + 1)) && (ext === 'mp4' || ext === 'm4s')) return 'init';
  if (['ts', 'm4s', 'mp4', 'aac', 'm4a', 'mp3', 'ac3', 'ec3', 'vtt', 'webvtt'].includes(ext)) return 'segment';
  return 'other';
}

export interface RenditionSample {
  stream: string;
  rendition: string;
  msn: number;
  ageSeconds: number;
}

/** `sample` is read at scrape time, so gauges show the state now, not at the last change. */
export function originMetrics(metrics: Metrics, sample: { memoryBytes(): number; renditions(): RenditionSample[]; heldRequests(): number }) {
  return {
    uploads: metrics.counter('origin_uploads_total', 'Completed uploads', ['stream', 'kind']),
    uploadBytes: metrics.counter('origin_upload_bytes_total', 'Bytes of completed uploads', ['stream', 'kind']),
    rejected: metrics.counter('origin_rejected_uploads_total', 'Uploads refused or aborted, by reason', ['reason']),
    superseded: metrics.counter('origin_superseded_uploads_total', 'Uploads that completed after a newer upload of their path and changed nothing'),
    storageErrors: metrics.counter('origin_storage_errors_total', 'Failed storage operations (data dir or S3), by operation and error code', ['op', 'code']),
    peerFills: metrics.counter('origin_peer_fills_total', 'Segments that never arrived, asked of the peers: filled, or missing (published as a gap)', ['result']),
    recordDropped: metrics.counter('origin_record_dropped_total', 'Published segments left out of a recording, by reason (busy: too many copies pending; unreadable; renditions: past 64 in a stream)', ['reason']),
    restarts: metrics.counter('origin_restarts_detected_total', 'Transcoder restarts detected (new epochs)', ['stream']),
    mediaSequence: metrics.gauge('origin_media_sequence', 'Newest published media sequence number', ['stream', 'rendition'], function () {
      this.reset();
      for (const r of sample.renditions()) this.set({ stream: r.stream, rendition: r.rendition }, r.msn);
    }),
    playlistAge: metrics.gauge('origin_playlist_age_seconds', 'Seconds since the playlist was last published', ['stream', 'rendition'], function () {
      this.reset();
      for (const r of sample.renditions()) this.set({ stream: r.stream, rendition: r.rendition }, r.ageSeconds);
    }),
    memory: metrics.gauge('origin_memory_bytes', 'Uploaded bytes held in memory', [], function () {
      this.set(sample.memoryBytes());
    }),
    requests: metrics.counter('origin_requests_total', 'GET/HEAD requests by result', ['result']),
    held: metrics.gauge('origin_held_requests', 'Requests held for a blocking playlist reload or a hinted part', [], function () {
      this.set(sample.heldRequests());
    }),
  };
}

export type OriginMetrics = ReturnType<typeof originMetrics>;
