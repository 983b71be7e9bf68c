import type { Redis } from 'ioredis';
import type { StoredCiphertext } from '#refresh';
import type { KeySpace } from '#store';
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

  /** Every subscription of every namespace (the dispatcher matches events against them). */
  async listAll(): Promise<Subscription[]> {
    return this.load(await this.redis.smembers(this.allKey()));
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
