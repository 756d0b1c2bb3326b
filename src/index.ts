// The package's public surface: role factories and the types a config file needs.
export { parsePlaylist, serializePlaylist, type Playlist, type MediaPlaylist, type MasterPlaylist, type MediaSegment } from './playlist.js';
export { createLogger, type Logger, type LogLevel } from './log.js';
export { listen, type Listening } from './serve.js';
export type { Role } from './role.js';
