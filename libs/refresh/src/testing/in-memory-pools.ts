import { type Pool, PoolNotFoundError } from '#store';
import type { PoolStorePort } from '../ports.js';

/** Pools in memory, namespaced and with the round-robin counter of the Redis pool hash. */
export class InMemoryPools implements PoolStorePort {
  private readonly pools = new Map<string, Pool>();
  private readonly counters = new Map<string, number>();

  async create(pool: Pool): Promise<void> {
    this.pools.set(pool.id, structuredClone(pool));
    this.counters.set(pool.id, 0);
  }

  async get(namespace: string, id: string): Promise<Pool> {
    const pool = this.pools.get(id);
    if (!pool || pool.namespace !== namespace) throw new PoolNotFoundError(id);
    return structuredClone(pool);
  }

  async list(namespace: string): Promise<Pool[]> {
    return [...this.pools.values()]
      .filter((p) => p.namespace === namespace)
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .map((p) => structuredClone(p));
  }

  async delete(namespace: string, id: string): Promise<void> {
    await this.get(namespace, id);
    this.pools.delete(id);
    this.counters.delete(id);
  }

  /** As PoolStore: 0 for a pool deleted meanwhile, whose counter is not re-created. */
  async nextIndex(id: string): Promise<number> {
    if (!this.pools.has(id)) return 0;
    const next = (this.counters.get(id) ?? 0) + 1;
    this.counters.set(id, next);
    return next;
  }
}
