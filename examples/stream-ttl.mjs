// edge: the recording of a finished talk ("archive-*" streams) never changes, so its playlists are cached
// for an hour; live streams keep the built-in TTLs (half a target duration for media playlists).
/** @type {import('cascade').CascadeConfig<'edge'>} */
export default {
  hooks: {
    ttl({ stream, path, status }) {
      if (stream.startsWith('archive-') && path.endsWith('.m3u8') && status === 200) return 3_600_000;
      return undefined;
    },
    response({ headers, cache }) {
      headers.set('X-Cache-Detail', cache);
    },
  },
};
