// A request body fed by hand, for in-process uploads (app.request) that overlap, stall or fail mid-body.
// The origin registers an upload before it reads the body, so `reading` resolving means it is registered.

export interface HandBody {
  body: ReadableStream<Uint8Array>;
  /** Resolves when the origin first asks for bytes. */
  reading: Promise<void>;
  send(chunk: Uint8Array | string): void;
  end(): void;
  /** The client goes away mid-body. */
  fail(): void;
}

export function handBody(): HandBody {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let onRead!: () => void;
  const reading = new Promise<void>((resolve) => { onRead = resolve; });
  // highWaterMark 0: nothing is pulled until the origin reads, so `reading` tells when it does.
  const body = new ReadableStream<Uint8Array>({ start: (c) => { controller = c; }, pull: () => onRead() }, { highWaterMark: 0 });
  return {
    body,
    reading,
    send: (chunk) => controller.enqueue(typeof chunk === 'string' ? new TextEncoder().encode(chunk) : chunk),
    end: () => controller.close(),
    fail: () => controller.error(new Error('client went away')),
  };
}

/** Request options for an in-process PUT of a hand-fed body. */
export function putWith(body: HandBody): RequestInit {
  return { method: 'PUT', body: body.body, duplex: 'half' } as RequestInit;
}
