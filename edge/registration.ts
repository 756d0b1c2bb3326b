// The edge's side of the Redis control plane: registration and heartbeat (with --public-url), and drain
// mode from the `drain` set, re-read on every `events` message and polled every second in case a message
// was missed. Redis is optional at every step: while it is away the edge serves with what it last knew.
// The keys and the transactions are src/control-plane.ts's; this file is the edge's timing and state.
import { connectRedis, controlKeys, heartbeat, withdraw as withdrawRegistration, type EdgeLoad } from '../src/control-plane.js';
import type { Logger } from '../src/log.js';

export interface RegistrationOptions {
  url: string;
  prefix: string;
  id: string;
  /** Registered in `edges` and heartbeated when set. */
  publicUrl?: string;
  log: Logger;
  onDrainChange: (drained: boolean) => void;
  /** Heartbeat and drain poll period (ms); the alive key lives for five of them. */
  intervalMs: number;
  /** The load reported with each heartbeat (edge/load.ts); asynchronous when gathered from every worker. */
  load?: () => EdgeLoad | undefined | Promise<EdgeLoad | undefined>;
}

export interface EdgeRegistration {
  /** Stops the heartbeat and deletes the alive key, so LBs stop sending new players here at once. */
  withdraw(): Promise<void>;
  close(): Promise<void>;
}

export function startRegistration(options: RegistrationOptions): EdgeRegistration {
  const keys = controlKeys(options.prefix);
  const { intervalMs } = options;
  const redis = connectRedis(options.url, options.log, undefined, { failoverDetector: true });
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
      const beat = await heartbeat(redis, keys, options.id, withdrawn ? undefined : options.publicUrl, intervalMs, await options.load?.());
      if (beat.drained !== undefined) setDrained(beat.drained);
      if (beat.registered) {
        options.log[registered ? 'warn' : 'info'](registered ? 'registration_restored' : 'registered', { url: options.publicUrl });
        registered = true;
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
    if (redis.status === 'ready') await withTimeout(withdrawRegistration(redis, keys, options.id), 1_000).catch(() => undefined);
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
