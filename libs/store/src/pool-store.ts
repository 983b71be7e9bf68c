import { NotFoundError, type ProblemCode } from '#core';
import type { KeySpace } from './keys.js';
import { defineScripts, runScript } from './lua-scripts.js';
import type { RedisClient } from './redis-client.js';

/** A group of credentials for the same upstream, served interchangeably. */
export interface Pool {
  id: string;
  namespace: string;
  name: string;
  members: string[];
  createdAt: number;
}

export class PoolNotFoundError extends NotFoundError {
  static override readonly code = 'POOL_NOT_FOUND' satisfies ProblemCode;
}

/**
 * Pools live under the store's global slot: a hash per pool and a set of pool ids per namespace.
 * Pools are small and read once per pool token request; the round-robin cursor is a counter in
 * the pool's hash.
 */
export class PoolStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: KeySpace,
  ) {
    defineScripts(redis);
  }

  private key(id: string): string {
    return this.keys.global(`pool:${id}`);
  }

  private indexKey(namespace: string): string {
    return this.keys.global(`pools:${namespace}`);
  }

  async create(pool: Pool): Promise<void> {
    await this.redis
      .multi()
      .hset(this.key(pool.id), {
        namespace: pool.namespace,
        name: pool.name,
        members: JSON.stringify(pool.members),
        createdAt: pool.createdAt,
        rr: 0,
      })
      .sadd(this.indexKey(pool.namespace), pool.id)
      .exec();
  }

  async get(namespace: string, id: string): Promise<Pool> {
    const h = await this.redis.hgetall(this.key(id));
    if (!h.namespace || h.namespace !== namespace) throw new PoolNotFoundError(id);
    return {
      id,
      namespace: h.namespace,
      name: h.name ?? id,
      members: JSON.parse(h.members ?? '[]') as string[],
      createdAt: Number(h.createdAt),
    };
  }

  async list(namespace: string): Promise<Pool[]> {
    const ids = await this.redis.smembers(this.indexKey(namespace));
    const pools = await Promise.all(ids.sort().map((id) => this.get(namespace, id).catch(() => undefined)));
    return pools.filter((p): p is Pool => p !== undefined);
  }

  async delete(namespace: string, id: string): Promise<void> {
    await this.get(namespace, id);
    await this.redis.multi().del(this.key(id)).srem(this.indexKey(namespace), id).exec();
  }

  /** The next round-robin starting position (0 for a pool deleted meanwhile, which is not re-created). */
  nextIndex(id: string): Promise<number> {
    return runScript<number>(this.redis, 'incr-field-if-exists-1', [this.key(id)], ['rr']);
  }
}
