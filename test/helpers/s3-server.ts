// A private S3-compatible server for tests: SeaweedFS (`weed mini`, built by scripts/install-seaweedfs.sh) in a
// temporary directory, every port on 127.0.0.1, static credentials so the AWS SDK signs for real, and one
// bucket. Starting takes ~5 s: start one per test file and give each test its own key prefix.
//
// `weed mini` rather than `weed server -s3`: the same master, volume, filer and S3 servers in one process, but
// its filer does not wait ~6 s to rule out peers from a previous cluster before S3 may write (10 s to the first
// write, against 5 s).
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { S3Storage, type S3Credentials, type S3Timeouts } from '../../origin/s3-storage.js';
import { freePort, startChild, type Child } from './process.js';

export const weed = join(new URL('../..', import.meta.url).pathname, '.tools', 'bin', 'weed');

/** Why S3 tests cannot run here, or undefined when they can. */
export function s3ServerMissing(): string | undefined {
  return existsSync(weed) ? undefined : 'no .tools/bin/weed (SeaweedFS): bash scripts/install-seaweedfs.sh (needs Go)';
}

export interface TestS3 {
  endpoint: string;
  region: string;
  bucket: string;
  credentials: S3Credentials;
  /** The AWS variables that point a child process (or s3ConnectionFromEnv) at this server. */
  env: Record<string, string>;
  pid: number;
  /** An S3Storage on this server (its bucket unless told) under `prefix`; closed by stop(). */
  storage(prefix: string, options?: { timeouts?: Partial<S3Timeouts>; bucket?: string; credentials?: S3Credentials }): S3Storage;
  /** Creates a bucket (an existing one of ours is fine). */
  createBucket(name: string): Promise<void>;
  /** SIGSTOP: connections are still accepted (by the kernel), nothing is answered. */
  pause(): void;
  resume(): void;
  /** Kills it (SIGKILL: its data is thrown away, and a clean stop takes SeaweedFS ~15 s) and removes its files. */
  stop(): Promise<void>;
}

// The servers inside `weed mini`, each with an HTTP and a gRPC port (the admin server is there for its
// maintenance workers, without its UI).
const SERVICES = ['master', 'volume', 'filer', 's3', 'admin'] as const;
type Service = (typeof SERVICES)[number];

async function distinctFreePorts(n: number): Promise<number[]> {
  for (;;) {
    const ports = await Promise.all(Array.from({ length: n }, () => freePort()));
    if (new Set(ports).size === n) return ports;
  }
}

/** Polls `attempt` until it resolves true, the child exits, or `timeoutMs` passes. */
async function until(child: Child, what: string, timeoutMs: number, attempt: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void child.exited.then(() => { exited = true; });
  for (;;) {
    if (exited) throw new Error(`weed exited before ${what}; output:\n${child.output().slice(-3000)}`);
    if (await attempt()) return;
    if (Date.now() > deadline) throw new Error(`weed: timed out waiting for ${what}; output:\n${child.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startS3Server(options: { bucket?: string; startTimeoutMs?: number } = {}): Promise<TestS3> {
  const missing = s3ServerMissing();
  if (missing) throw new Error(missing);
  const dir = await mkdtemp(join(tmpdir(), 'cascade-s3-'));
  const bucket = options.bucket ?? 'cascade-test';
  const region = 'us-east-1';
  const credentials = { accessKeyId: 'cascade-test', secretAccessKey: randomBytes(16).toString('hex') };
  const identities = [{ name: 'cascade', credentials: [{ accessKey: credentials.accessKeyId, secretKey: credentials.secretAccessKey }], actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'] }];
  await writeFile(join(dir, 's3.json'), JSON.stringify({ identities }));
  const free = await distinctFreePorts(SERVICES.length * 2);
  const port = (service: Service, grpc = false) => free[SERVICES.indexOf(service) * 2 + (grpc ? 1 : 0)]!;
  const args = [
    // glog writes log files to /tmp unless told to log to stderr (which startChild captures).
    '-logtostderr', 'mini', `-dir=${dir}`, '-ip=127.0.0.1', '-ip.bind=127.0.0.1', `-s3.config=${join(dir, 's3.json')}`,
    ...SERVICES.flatMap((s) => [`-${s}.port=${port(s)}`, `-${s}.port.grpc=${port(s, true)}`]),
    // Nothing else listens: no WebDAV, admin UI, legacy admin port, Iceberg or Lance catalog; the local
    // sockets live in the temporary directory.
    '-webdav=false', '-admin.ui=false', '-admin.port.legacy=0', '-s3.port.iceberg=0', '-s3.port.lance=0',
    `-filer.localSocket=${join(dir, 'filer.sock')}`, `-s3.localSocket=${join(dir, 's3.sock')}`,
    // No anonymous usage report; small volumes (mini sizes them from the free disk space otherwise); a
    // missing bucket is an error, as on AWS (SeaweedFS creates it on a first write by default).
    '-master.telemetry=false', '-master.volumeSizeLimitMB=64', '-s3.autoCreateBucket=false',
  ];
  // One process (weed runs every server as goroutines and starts no children), killed by its pid.
  const child = startChild(weed, args, { cwd: dir });
  const signal = (sig: NodeJS.Signals) => { try { process.kill(child.pid, sig); } catch { /* gone */ } };
  // SeaweedFS puts its gRPC sockets in /tmp whatever -dir says, and only a clean stop removes them.
  const removeFiles = () => {
    rmSync(dir, { recursive: true, force: true });
    for (const s of SERVICES) rmSync(`/tmp/seaweedfs-${s}-grpc-${port(s, true)}.sock`, { force: true });
  };
  // A test process that exits without stop() (an uncaught error) still leaves no server and no files behind.
  const onExit = () => {
    signal('SIGKILL');
    removeFiles();
  };
  process.once('exit', onExit);
  const endpoint = `http://127.0.0.1:${port('s3')}`;
  const storages: S3Storage[] = [];
  let stopped: Promise<void> | undefined;
  const server: TestS3 = {
    endpoint,
    region,
    bucket,
    credentials,
    env: { AWS_ENDPOINT_URL: endpoint, AWS_REGION: region, AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey },
    pid: child.pid,
    storage(prefix, o = {}) {
      const s = new S3Storage({ bucket, prefix, endpoint, region, credentials, ...o });
      storages.push(s);
      return s;
    },
    async createBucket(name) {
      const client = new S3Client({ endpoint, region, credentials, forcePathStyle: true, maxAttempts: 1, requestHandler: { connectionTimeout: 1000, requestTimeout: 5000, throwOnRequestTimeout: true } });
      try {
        await client.send(new CreateBucketCommand({ Bucket: name }));
      } catch (err) {
        if ((err as Error).name !== 'BucketAlreadyOwnedByYou') throw err;
      } finally {
        client.destroy();
      }
    },
    pause: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT'),
    stop() {
      stopped ??= (async () => {
        for (const s of storages) s.close();
        signal('SIGKILL');
        await child.exited;
        process.removeListener('exit', onExit);
        removeFiles();
      })();
      return stopped;
    },
  };
  try {
    // The S3 gateway answers before the filer behind it can write: ready is a created bucket and a
    // first write, done before any test times one.
    await until(child, 'the bucket', options.startTimeoutMs ?? 60_000, () => server.createBucket(bucket).then(() => true, () => false));
    const warm = server.storage('');
    await until(child, 'a first write', options.startTimeoutMs ?? 60_000, () => warm.put('.ready', '').then(() => true, () => false));
    await warm.remove('.ready');
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}

/**
 * One server for the calling test file: started before its first test, stopped after its last. The
 * getter gives it (undefined when weed is missing: skip those tests with s3ServerMissing()).
 */
export function s3ServerForFile(): () => TestS3 | undefined {
  let server: TestS3 | undefined;
  before(async () => {
    if (s3ServerMissing() === undefined) server = await startS3Server();
  });
  after(async () => {
    await server?.stop();
  });
  return () => server;
}
