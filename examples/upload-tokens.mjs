// origin: per-stream upload tokens from a hook. `cascade origin --config examples/upload-tokens.mjs`
// Built in now (docs/access.md): `--upload-tokens FILE` or `--upload-tokens-redis URL`; this example stays to
// show the authorizeUpload hook, which still has the last word over the built-in check.
// Tokens come from CASCADE_STREAM_TOKENS='demo=s3cret,talk1=other' (a file or Redis would do as well).
const tokens = new Map(
  (process.env.CASCADE_STREAM_TOKENS ?? '').split(',').filter(Boolean).map((pair) => pair.split('=', 2)),
);

/** @type {import('cascade').CascadeConfig<'origin'>} */
export default {
  hooks: {
    authorizeUpload({ request, stream }) {
      const expected = tokens.get(stream);
      if (expected === undefined) return undefined; // streams without their own token: built-in check
      return request.headers.get('authorization') === `Bearer ${expected}`;
    },
    published({ stream, path, log }) {
      log.info('playlist_published', { stream, path });
    },
  },
};
