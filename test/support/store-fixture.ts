/**
 * A real Redis with the credential store and lease manager on a fresh key prefix: the fixture of
 * the integration suites that exercise the store directly.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { CredentialStore, KeySpace, LeaseManager, type RedisClient, type StoreLimits } from '#store';
import { type RedisServer, type StartRedisOptions, startRedis, uniquePrefix } from './redis-server.js';

export interface StoreFixture<C extends RedisClient = Redis> {
  server: RedisServer;
  redis: C;
  keys: KeySpace;
  store: CredentialStore;
  leases: LeaseManager;
}

export interface StoreFixtureOptions<C extends RedisClient> extends Partial<StoreLimits> {
  /** Feed partitions (default 1). */
  partitions?: number;
  server?: StartRedisOptions;
  /** How to connect to the server (default: a plain ioredis client). */
  connect?: (url: string) => C;
}

/**
 * Starts the fixture before the suite's tests and stops it after them. The returned object is
 * filled in by then: read its fields inside tests and hooks, not at collection time.
 */
export function useStoreFixture<C extends RedisClient = Redis>(
  name: string,
  opts: StoreFixtureOptions<C> = {},
): StoreFixture<C> {
  const f = {} as StoreFixture<C>;
  beforeAll(async () => {
    f.server = await startRedis(opts.server);
    f.redis = opts.connect?.(f.server.url) ?? (new Redis(f.server.url, { maxRetriesPerRequest: null }) as C);
    f.keys = new KeySpace(uniquePrefix(name), opts.partitions ?? 1);
    f.store = storeOn(f.redis, f.keys, { historyMaxLen: opts.historyMaxLen, feedMaxLen: opts.feedMaxLen });
    f.leases = new LeaseManager(f.redis, f.keys);
  });
  afterAll(async () => {
    f.redis?.disconnect();
    await f.server?.destroy();
  });
  return f;
}

/** A credential store on `keys` (a second instance sees what the first wrote). */
export function storeOn(
  redis: RedisClient,
  keys: KeySpace,
  limits: Partial<StoreLimits> = {},
): CredentialStore {
  return new CredentialStore(redis, keys, {
    ...limits,
    historyMaxLen: limits.historyMaxLen ?? 1000,
    feedMaxLen: limits.feedMaxLen ?? 100_000,
  });
}
