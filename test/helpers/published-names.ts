// Published names as the origin makes them (origin/publisher.ts, publishedName): the uploaded name with a
// tag before its extension, `<root>-<epoch>-<usn>` for a segment (plus `-<content>` when a hinted name was
// taken by other bytes), `<content>` for an init section or a file of byte ranges.
const TAG = /\.(?:[0-9a-f]{8}-\d+-\d+(?:-[0-9a-f]{16})?|[0-9a-f]{16})(?=\.[^./]+$|$)/;

/** `v0/seg3.1a2b3c4d-0-3.ts` -> `v0/seg3.ts` */
export function uploadedName(published: string): string {
  return published.replace(TAG, '');
}

/** The tag of a segment's published name: [root, epoch, usn], or undefined for a name with a content tag. */
export function segmentTag(published: string): [string, number, number] | undefined {
  const m = /\.([0-9a-f]{8})-(\d+)-(\d+)(?:-[0-9a-f]{16})?(?=\.[^./]+$|$)/.exec(published);
  return m ? [m[1]!, Number(m[2]), Number(m[3])] : undefined;
}
