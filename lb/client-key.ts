// Whose request is this: what the selector hashes (the client address is src/client-address.ts').

export type HashBy = 'client' | 'stream';
