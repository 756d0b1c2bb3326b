// Published names as the origin makes them (origin/publisher.ts, publishedName): the uploaded name with a
// tag before its extension, `<root>-<epoch>-<usn>` for a segment (plus `-<content>` when a hinted name was
// taken by other bytes), `<content>` for an init section or a file of byte ranges.
const TAG = /\.(?:[0-9a-f]{8}-\d+-\d+(?:-[0-9a-f]{16})?|[0-9a-f]{16})(?=\.[^./]+$|$)/;

/** `v0/seg3.1a2b3c4d-0-3.ts` -> `v0/seg3.ts` */
export function uploadedName(published: string): string {
  return published.replace(TAG, '');
}
