/**
 * A whole tokenkeeper deployment for an e2e suite in one call: a real Redis, an api and N workers
 * started from `dist/` with the standard test environment (TEST_SECURITY_ENV, the test key ring;
 * see processes.ts), an admin client, and one `stop()` that ends everything it started.
 */
import { Queue } from 'bullmq';
import { afterAll, beforeAll } from 'vitest';
import { QueueName, queuePrefix } from '#queues';
import type { OAuthServer, StartOAuthServerOptions } from './oauth-server.js';
import { type AppProcess, apiClient, startApp } from './processes.js';
import { testRedisClient } from './redis-cluster.js';
import { type RedisServer, type StartRedisOptions, startRedis, uniquePrefix } from './redis-server.js';

export type ApiClient = ReturnType<typeof apiClient>;

export interface StackOptions {
  /** Names the Redis key prefix (`tkt-<name>-<random>`). */
  name: string;
  /** Environment for the api and every worker (on top of REDIS_URL and TK_REDIS_PREFIX). */
  env?: Record<string, string>;
  /** More environment for the api only. */
  apiEnv?: Record<string, string>;
  /** More environment for the workers only; a function gets the worker's index (0, 1, ...). */
  workerEnv?: Record<string, string> | ((index: number) => Record<string, string>);
  /** Whether to start the api (default true); a stack without one has no `api`, `url`, `admin` or `client`. */
  api?: boolean;
  /** How many workers (default 1; 0 starts none). */
  workers?: number;
  /** The Redis key prefix (default: a fresh one named after `name`). */
  prefix?: string;
  /** Runs once Redis is up, before any app starts (to seed what the apps find at boot). */
  beforeStart?: (redis: RedisServer) => Promise<void>;
  /** Also start the in-process authorization server (test/support/oauth-server.ts) first. */
  oauth?: StartOAuthServerOptions;
  /** Options of the Redis server (AOF, extra arguments such as `--requirepass`). */
  redis?: StartRedisOptions;
  /** The REDIS_URL the apps get, when it differs from the server's own (a password, a proxy). */
  redisUrl?: (redis: RedisServer) => string;
}

export interface Stack {
  /** The authorization server (throws in a stack started without `oauth`). */
  readonly oauth: OAuthServer;
  readonly redis: RedisServer;
  /** The Redis key prefix of this stack. */
  readonly prefix: string;
  /** The environment every app of this stack shares: REDIS_URL, TK_REDIS_PREFIX and `options.env`. */
  readonly env: Record<string, string>;
  readonly api: AppProcess;
  /** The api's base URL. */
  readonly url: string;
  /** A client of the api that authenticates with the bootstrap admin key. */
  readonly admin: ApiClient;
  /** The first worker (throws in a stack started without one). */
  readonly worker: AppProcess;
  readonly workers: readonly AppProcess[];
  /** Every process this stack started, the extra ones included. */
  readonly processes: readonly AppProcess[];
  /** A client of this stack's api with other headers (`{ authorization: 'Bearer <key>' }`). */
  client(headers?: Record<string, string>): ApiClient;
  /**
   * Starts one more app against this stack's Redis (`env` on top of the stack's); `stop()` ends
   * it too. An agent gets only `env` (it talks to the api, not to Redis). `until`: see startApp.
   */
  start(
    kind: 'api' | 'worker' | 'agent',
    env?: Record<string, string>,
    label?: string,
    args?: readonly string[],
    until?: 'ready' | 'answering',
  ): Promise<AppProcess>;
  /** Starts the agent with `--config <configPath>` and its API key in TK_API_KEY. */
  startAgent(configPath: string, apiKey: string, env?: Record<string, string>): Promise<AppProcess>;
  /** The refresh queue (BullMQ) of this stack, to look at its jobs; `stop()` closes it. */
  refreshQueue(): Queue;
  /** A queue (BullMQ) of this stack by name, to add or look at jobs; `stop()` closes it. */
  queue(name: QueueName): Queue;
  /** Everything every process printed so far, one block per process. */
  logs(): string;
  /**
   * SIGTERM to every process still running (agents first), then the Redis server is removed and
   * the authorization server stopped.
   */
  stop(): Promise<void>;
}

/** Starts Redis, then the api and the workers side by side; waits until all are ready. */
export async function startStack(options: StackOptions): Promise<Stack> {
  const oauthServer = options.oauth
    ? await (await import('./oauth-server.js')).startOAuthServer(options.oauth)
    : undefined;
  const redis = await startRedis(options.redis);
  const prefix = options.prefix ?? uniquePrefix(options.name);
  const env: Record<string, string> = {
    REDIS_URL: options.redisUrl ? options.redisUrl(redis) : redis.url,
    TK_REDIS_PREFIX: prefix,
    ...options.env,
  };
  const processes: AppProcess[] = [];
  const track = async (started: Promise<AppProcess>) => {
    const app = await started;
    processes.push(app);
    return app;
  };
  const workerCount = options.workers ?? 1;
  const workerEnv = (i: number) =>
    typeof options.workerEnv === 'function' ? options.workerEnv(i) : (options.workerEnv ?? {});

  let queues: { byName: Map<QueueName, Queue>; connection: ReturnType<typeof testRedisClient> } | undefined;
  const queueOf = (name: QueueName) => {
    queues ??= { byName: new Map(), connection: testRedisClient(redis.url) };
    let queue = queues.byName.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: queues.connection, prefix: queuePrefix(prefix) });
      queues.byName.set(name, queue);
    }
    return queue;
  };
  const stop = async () => {
    if (queues) {
      for (const queue of queues.byName.values()) await queue.close();
      queues.connection.disconnect();
    }
    const agents = processes.filter((p) => p.name.startsWith('agent'));
    await Promise.all(agents.map((p) => p.stop()));
    await Promise.all(processes.filter((p) => !agents.includes(p)).map((p) => p.stop()));
    await redis.destroy();
    await oauthServer?.stop();
  };

  let api: AppProcess | undefined;
  let workers: AppProcess[];
  try {
    await options.beforeStart?.(redis);
    [api, workers] = await Promise.all([
      options.api === false ? undefined : track(startApp('api', { ...env, ...options.apiEnv })),
      Promise.all(
        Array.from({ length: workerCount }, (_, i) =>
          track(
            startApp('worker', { ...env, ...workerEnv(i) }, workerCount > 1 ? `worker-${i + 1}` : 'worker'),
          ),
        ),
      ),
    ]);
  } catch (err) {
    await stop();
    throw err;
  }
  const started = api;
  const needApi = () => {
    if (!started) throw new Error('this stack was started without an api');
    return { api: started, url: started.url! };
  };
  const admin = started ? apiClient(started.url!) : undefined;

  return {
    get oauth() {
      if (!oauthServer) throw new Error('this stack was started without an authorization server');
      return oauthServer;
    },
    redis,
    prefix,
    env,
    get api() {
      return needApi().api;
    },
    get url() {
      return needApi().url;
    },
    get admin() {
      return admin ?? apiClient(needApi().url);
    },
    get worker() {
      const first = workers[0];
      if (!first) throw new Error('this stack was started without a worker');
      return first;
    },
    workers,
    processes,
    client: (headers = {}) => apiClient(needApi().url, headers),
    start: (kind, extra = {}, label = kind, args = [], until = 'ready') =>
      track(startApp(kind, kind === 'agent' ? extra : { ...env, ...extra }, label, args, until)),
    startAgent: (configPath, apiKey, extra = {}) =>
      track(startApp('agent', { TK_API_KEY: apiKey, ...extra }, 'agent', ['--config', configPath])),
    refreshQueue: () => queueOf(QueueName.TokenRefresh),
    queue: queueOf,
    logs: () => processes.map((p) => `--- ${p.name}\n${p.logs()}`).join('\n'),
    stop,
  };
}

/**
 * Starts a stack before the tests of the enclosing `describe` (or file) and stops it after them.
 * The handle reads through to the running stack, so tests use it as they would a `Stack`;
 * `options` may be a function, for settings only known once other servers run.
 */
export function useStack(options: StackOptions | (() => StackOptions | Promise<StackOptions>)): Stack {
  let current: Stack | undefined;
  beforeAll(async () => {
    current = await startStack(typeof options === 'function' ? await options() : options);
  });
  afterAll(async () => {
    await current?.stop();
  });
  return new Proxy({} as Stack, {
    get(_, key) {
      if (!current) throw new Error('the stack starts in beforeAll: use it inside hooks and tests');
      const value: unknown = Reflect.get(current, key);
      return typeof value === 'function' ? value.bind(current) : value;
    },
  });
}
