// The entry points of cascade: the `cascade` command (main.ts and its commands here) and this file, the
// package's public surface: role factories and the types a config file needs
// (`import type { EdgeHooks, CascadeConfig } from 'cascade'`).
import type { EdgeHooks } from '../edge/hooks.js';
import type { LbHooks } from '../lb/index.js';
import type { OriginHooks } from '../origin/index.js';
import type { RoleConfigModule, RoleName } from '../src/hooks.js';

export { createOrigin, ORIGIN_DEFAULTS, type Origin, type OriginConfig, type PublishedEvent } from '../origin/index.js';
export { createEdge, CACHE_OUTCOMES, EDGE_DEFAULTS, type Edge, type EdgeConfig, type CacheOutcome } from '../edge/index.js';
export type {
  EdgeHooks, EdgeRequestContext, EdgeRequestDecision, CacheKeyContext, SelectOriginContext, OriginCandidate, TtlContext, EdgeResponseContext,
} from '../edge/hooks.js';
export { createLb, LB_DEFAULTS, cidrGroups, parseEdgeGroup, type Lb, type LbConfig, type EdgeGroup } from '../lb/index.js';
export type { OriginHooks, UploadContext, PublishedContext } from '../origin/index.js';
export type { LbHooks, HashKeyContext, SelectEdgesContext, LbResponseContext, EdgeCandidate } from '../lb/index.js';
export type { RoleName } from '../src/hooks.js';
export { parsePlaylist, serializePlaylist, type Playlist, type MediaPlaylist, type MasterPlaylist, type MediaSegment } from '../src/playlist.js';
export { createLogger, type Logger, type LogLevel } from '../src/log.js';
export { listen, type Listening } from '../src/serve.js';
export type { Role } from '../src/role.js';

/** Each role's hooks, as its folder declares them. */
export interface RoleHooks {
  origin: OriginHooks;
  edge: EdgeHooks;
  lb: LbHooks;
}

/** What a `--config` module of role R exports (as default export or as named exports). */
export type CascadeConfig<R extends RoleName = RoleName> = RoleConfigModule<RoleHooks[R]>;
