import type { Redis } from 'ioredis';
import type { KeySpace, StoredCiphertext } from '#store';
import type { Subscription } from './subscription.js';

/** The field name a signing secret's ciphertext is bound to (its JWE `fld`). */
export const WEBHOOK_SECRET_FIELD = 'webhook_secret';

/**
 * Subscriptions in Redis: a hash per subscription (`j` = JSON, `s` = secret ciphertext), a set
 * of every id (for the dispatcher) and a set per namespace (for listing). All in the global slot.
 */
export class SubscriptionStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: KeySpace,
  ) {}

  private key(id: string): string {
    return this.keys.global(`wh:sub:${id}`);
  }
  private allKey(): string {
    return this.keys.global('wh:subs');
  }
  private namespaceKey(namespace: string): string {
    return this.keys.global(`wh:ns:${namespace}`);
  }

  async save(sub: Subscription, secretJwe?: string): Promise<void> {
    const multi = this.redis.multi().hset(this.key(sub.id), 'j', JSON.stringify(sub));
    if (secretJwe) multi.hset(this.key(sub.id), 's', secretJwe);
    await multi.sadd(this.allKey(), sub.id).sadd(this.namespaceKey(sub.namespace), sub.id).exec();
  }

  /**
   * Saves a new subscription unless its namespace would then have more than `limit`: added and
   * counted in one transaction, taken back out when over (two racing creates may both be refused,
   * never both accepted). Returns false when refused.
   */
  async saveNew(sub: Subscription, secretJwe: string, limit: number): Promise<boolean> {
    const results = await this.redis
      .multi()
      .hset(this.key(sub.id), 'j', JSON.stringify(sub), 's', secretJwe)
      .sadd(this.allKey(), sub.id)
      .sadd(this.namespaceKey(sub.namespace), sub.id)
      .scard(this.namespaceKey(sub.namespace))
      .exec();
    const count = Number(results?.[3]?.[1] ?? 0);
    if (count <= limit) return true;
    await this.remove(sub);
    return false;
  }

  async get(id: string): Promise<{ subscription: Subscription; secretJwe: string } | undefined> {
    const [j, s] = await this.redis.hmget(this.key(id), 'j', 's');
    if (!j || !s) return undefined;
    return { subscription: JSON.parse(j) as Subscription, secretJwe: s };
  }

  async remove(sub: Subscription): Promise<void> {
    await this.redis
      .multi()
      .del(this.key(sub.id))
      .srem(this.allKey(), sub.id)
      .srem(this.namespaceKey(sub.namespace), sub.id)
      .exec();
  }

  async listNamespace(namespace: string): Promise<Subscription[]> {
    return this.load(await this.redis.smembers(this.namespaceKey(namespace)));
  }

  /** Every signing-secret ciphertext, in pages (re-encryption to a new primary key covers them). */
  async *ciphertexts(pageSize: number): AsyncGenerator<StoredCiphertext[]> {
    const ids = await this.redis.smembers(this.allKey());
    for (let i = 0; i < ids.length; i += pageSize) {
      const slice = ids.slice(i, i + pageSize);
      const pipeline = this.redis.pipeline();
      for (const id of slice) pipeline.hget(this.key(id), 's');
      const results = (await pipeline.exec()) ?? [];
      yield results.flatMap(([err, value], j) =>
        err || !value
          ? []
          : [
              {
                key: this.key(slice[j]!),
                hashField: 's',
                boundId: slice[j]!,
                field: WEBHOOK_SECRET_FIELD,
                value: value as string,
              },
            ],
      );
    }
  }

  /**
   * The subscriptions of each namespace asked for (one read of each namespace's set, then one
   * pipeline): what the dispatcher needs for a batch, bounded by the per-namespace cap.
   */
  async listNamespaces(namespaces: Iterable<string>): Promise<Map<string, Subscription[]>> {
    const names = [...new Set(namespaces)];
    const out = new Map<string, Subscription[]>();
    if (names.length === 0) return out;
    const pipeline = this.redis.pipeline();
    for (const ns of names) pipeline.smembers(this.namespaceKey(ns));
    const members = (await pipeline.exec()) ?? [];
    const subs = await this.load(members.flatMap(([err, ids]) => (err ? [] : (ids as string[]))));
    for (const ns of names) out.set(ns, []);
    for (const sub of subs) out.get(sub.namespace)?.push(sub);
    return out;
  }

  private async load(ids: string[]): Promise<Subscription[]> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hget(this.key(id), 'j');
    const results = (await pipeline.exec()) ?? [];
    return results
      .map(([err, value]) => (err || !value ? undefined : (JSON.parse(value as string) as Subscription)))
      .filter((s): s is Subscription => s !== undefined)
      .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }
}
