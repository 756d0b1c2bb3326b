// Reading an upload's body (the origin's and the fan-out's): chunk by chunk as it arrives, refused past a
// size limit or after an idle timeout, each as an UploadBodyError (413, 408; a client gone mid-body: 400).

export const UPLOAD_BODY_STATUS = { too_large: 413, idle_timeout: 408, aborted: 400 } as const;

export class UploadBodyError extends Error {
  override name = 'UploadBodyError';
  constructor(readonly reason: keyof typeof UPLOAD_BODY_STATUS, message: string) {
    super(message);
  }

  get status(): (typeof UPLOAD_BODY_STATUS)[keyof typeof UPLOAD_BODY_STATUS] {
    return UPLOAD_BODY_STATUS[this.reason];
  }
}

/** Passes each chunk to `onChunk`; returns the body's size. */
export async function readUploadBody(body: ReadableStream<Uint8Array> | null, limit: number, idleMs: number, onChunk: (chunk: Buffer) => void): Promise<number> {
  if (!body) return 0;
  const reader = body.getReader();
  let size = 0;
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<'idle'>((resolve) => { timer = setTimeout(() => resolve('idle'), idleMs); });
    let result: ReadableStreamReadResult<Uint8Array> | 'idle';
    try {
      result = await Promise.race([reader.read(), idle]);
    } catch {
      throw new UploadBodyError('aborted', 'upload aborted by the client');
    } finally {
      clearTimeout(timer);
    }
    if (result === 'idle') {
      void reader.cancel().catch(() => undefined);
      throw new UploadBodyError('idle_timeout', `no upload data for ${idleMs} ms`);
    }
    if (result.done) return size;
    size += result.value.byteLength;
    if (size > limit) {
      void reader.cancel().catch(() => undefined);
      throw new UploadBodyError('too_large', `upload larger than ${limit} bytes`);
    }
    onChunk(Buffer.from(result.value.buffer, result.value.byteOffset, result.value.byteLength));
  }
}
