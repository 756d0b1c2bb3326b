// edge: one cache entry per rendition *and* language for a stream whose players select the audio language
// with ?lang=, while everything else keeps the built-in key.
/** @type {import('cascade').CascadeConfig<'edge'>} */
export default {
  hooks: {
    cacheKey({ request, defaultKey, path }) {
      if (!path.endsWith('.m3u8')) return undefined;
      const lang = new URL(request.url).searchParams.get('lang');
      return lang && /^[a-z]{2}$/.test(lang) ? `${defaultKey}#lang=${lang}` : undefined;
    },
  },
};
