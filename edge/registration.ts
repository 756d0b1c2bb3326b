// The edge's side of the Redis control plane: registration and heartbeat (with --public-url), and drain
// mode from the `drain` set, re-read on every `events` message and polled every second in case a message
// was missed. Redis is optional at every step: while it is away the edge serves with what it last knew.
import { connectRedis, controlKeys } from '../src/control-plane.js';
import type { Logger } from '../src/log.js';

export interface EdgeControlOptions {
  url: string;
  prefix: string;
  id: string;
  /** Registered in `edges` and heartbeated when set. */
  publicUrl?: string;
  log: Logger;
  onDrainChange: (drained: boolean) => void;
  /** Heartbeat and drain poll period (ms); the alive key lives for five of them. */
  intervalMs?: number;
}

export interface EdgeControl {
  /** Stops the heartbeat and deletes the alive key, so LBs stop sending new players here at once. */
  withdraw(): Promise<void>;
  close(): Promise<void>;
}

export function startEdgeControl(options: EdgeControlOptions): EdgeControl {
  const keys = controlKeys(options.prefix);
  const intervalMs = options.intervalMs ?? 1_000;
  const ttlSeconds = Math.max(1, Math.ceil((intervalMs * 5) / 1000));
  const redis = connectRedis(options.url, options.log);
  const subscriber = connectRedis(options.url, options.log);
  let drained = false;
  let withdrawn = false;
  let closed = false;
  let registered = false;

  const setDrained = (next: boolean) => {
    if (next === drained) return;
    drained = next;
    options.log.info(next ? 'drain_on' : 'drain_off', { source: 'redis' });
    options.onDrainChange(next);
  };

  const refresh = async () => {
    if (closed || redis.status !== 'ready') return;
    try {
      const batch = redis.multi().sismember(keys.drain, options.id);
      // Re-written every beat, so an edge re-registers by itself after Redis lost its data (FLUSHALL,
      // restarted empty; keyspace events would need server config and FLUSHALL sends none per key). The
      // same transaction reads what was there first: no extra round trip to notice the loss.
      const register = options.publicUrl !== undefined && !withdrawn;
      if (register) {
        batch.hget(keys.edges, options.id).exists(keys.alive(options.id))
          .hset(keys.edges, options.id, options.publicUrl!).set(keys.alive(options.id), options.publicUrl!, 'EX', ttlSeconds);
      }
      const results = await batch.exec();
      const member = results?.[0]?.[1];
      if (typeof member === 'number') setDrained(member === 1);
      if (register && (results?.[1]?.[1] !== options.publicUrl || results?.[2]?.[1] !== 1)) {
        options.log[registered ? 'warn' : 'info'](registered ? 'registration_restored' : 'registered', { url: options.publicUrl });
        registered = true;
        // LBs re-read at once instead of at their next poll.
        await redis.publish(keys.events, `register ${options.id}`);
      }
    } catch (err) {
      options.log.debug('control_refresh_failed', { err });
    }
  };

  redis.on('ready', () => void refresh());
  subscriber.on('ready', () => {
    subscriber.subscribe(keys.events).catch((err: unknown) => options.log.debug('subscribe_failed', { err }));
  });
  subscriber.on('message', () => void refresh());
  const timer = setInterval(() => void refresh(), intervalMs);
  timer.unref();

  const withdraw = async () => {
    if (withdrawn || !options.publicUrl) return;
    withdrawn = true;
    if (redis.status === 'ready') await withTimeout(redis.del(keys.alive(options.id)), 1_000).catch(() => undefined);
  };

  return {
    withdraw,
    async close() {
      await withdraw();
      closed = true;
      clearInterval(timer);
      redis.disconnect(false);
      subscriber.disconnect(false);
    },
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout')), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e: unknown) => { clearTimeout(t); reject(e); });
  });
}
