import type { Redis } from 'ioredis';
import type { EventType } from '#core';
import type { KeySpace } from '#store';

/**
 * - `pending`: enqueued, not attempted yet; `retrying`: failed at least once, more attempts to come;
 * - `delivered`: a 2xx answer; `dead`: every attempt failed, in the dead-letter list until re-driven;
 * - `dropped`: the subscription was deleted or disabled before delivery.
 */
export type DeliveryStatus = 'pending' | 'retrying' | 'delivered' | 'dead' | 'dropped';

export interface DeliveryAttempt {
  at: number;
  durationMs: number;
  outcome: 'success' | 'failure';
  /** HTTP status of the receiver's answer, when there was one. */
  statusCode?: number;
  /** Why the attempt failed (timeout, connection refused, non-2xx). Never a response body. */
  error?: string;
}

/** One event delivered (or not) to one subscription. Ids, versions and outcomes only. */
export interface DeliveryRecord {
  id: string;
  subscriptionId: string;
  eventType: EventType;
  credentialId: string;
  revision: number;
  partition: number;
  feedId: string;
  status: DeliveryStatus;
  attempts: DeliveryAttempt[];
  redrives: number;
  createdAt: number;
  updatedAt: number;
  deliveredAt?: number;
  deadLetteredAt?: number;
  nextAttemptAt?: number;
}

/** The delivery id is the event's place in the feed: one delivery per (event, subscription). */
export function deliveryIdOf(partition: number, feedId: string): string {
  return `p${partition}-${feedId}`;
}

const RETENTION_SECONDS = 7 * 86_400;
const MAX_ATTEMPTS_KEPT = 50;
const MAX_DELIVERIES_LISTED = 10_000;

/** Delivery records (kept 7 days), a per-subscription index by time, and the dead-letter list. */
export class DeliveryLog {
  constructor(
    private readonly redis: Redis,
    private readonly keys: KeySpace,
  ) {}

  private key(subscriptionId: string, deliveryId: string): string {
    return this.keys.global(`wh:d:${subscriptionId}:${deliveryId}`);
  }
  private indexKey(subscriptionId: string): string {
    return this.keys.global(`wh:ds:${subscriptionId}`);
  }
  /** The dead-letter list of a subscription: delivery ids, newest first. */
  deadLetterKey(subscriptionId: string): string {
    return this.keys.global(`wh:dead:${subscriptionId}`);
  }

  /**
   * Creates the records that do not exist yet and returns every record as it is now, so a feed
   * entry dispatched twice (at-least-once) finds its delivery already there.
   */
  async createIfAbsent(records: DeliveryRecord[]): Promise<DeliveryRecord[]> {
    if (records.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const r of records) {
      pipeline.set(this.key(r.subscriptionId, r.id), JSON.stringify(r), 'EX', RETENTION_SECONDS, 'NX');
      pipeline.zadd(this.indexKey(r.subscriptionId), 'NX', r.createdAt, r.id);
      pipeline.get(this.key(r.subscriptionId, r.id));
    }
    const results = (await pipeline.exec()) ?? [];
    return records.map((r, i) => {
      const [err, value] = results[i * 3 + 2] ?? [];
      return err || !value ? r : (JSON.parse(value as string) as DeliveryRecord);
    });
  }

  async get(subscriptionId: string, deliveryId: string): Promise<DeliveryRecord | undefined> {
    const value = await this.redis.get(this.key(subscriptionId, deliveryId));
    return value ? (JSON.parse(value) as DeliveryRecord) : undefined;
  }

  /** Writes a record back (one job works on a delivery at a time, so read-modify-write is safe). */
  async put(record: DeliveryRecord): Promise<void> {
    record.attempts = record.attempts.slice(-MAX_ATTEMPTS_KEPT);
    const multi = this.redis
      .multi()
      .set(this.key(record.subscriptionId, record.id), JSON.stringify(record), 'EX', RETENTION_SECONDS);
    if (record.status === 'dead') {
      multi
        .lrem(this.deadLetterKey(record.subscriptionId), 0, record.id)
        .lpush(this.deadLetterKey(record.subscriptionId), record.id);
    } else {
      multi.lrem(this.deadLetterKey(record.subscriptionId), 0, record.id);
    }
    await multi.exec();
  }

  /** Newest first. Index entries whose record expired are skipped (and pruned). */
  async list(
    subscriptionId: string,
    options: { limit: number; status?: DeliveryStatus },
  ): Promise<DeliveryRecord[]> {
    const index = this.indexKey(subscriptionId);
    await this.redis.zremrangebyscore(index, '-inf', Date.now() - RETENTION_SECONDS * 1000);
    const ids = await this.redis.zrevrange(index, 0, MAX_DELIVERIES_LISTED - 1);
    const out: DeliveryRecord[] = [];
    for (let i = 0; i < ids.length && out.length < options.limit; i += 200) {
      const records = await this.getMany(subscriptionId, ids.slice(i, i + 200));
      for (const r of records) {
        if (r && (!options.status || r.status === options.status)) out.push(r);
        if (out.length >= options.limit) break;
      }
    }
    return out;
  }

  async deadLetters(subscriptionId: string): Promise<string[]> {
    return this.redis.lrange(this.deadLetterKey(subscriptionId), 0, -1);
  }

  async removeAll(subscriptionId: string): Promise<void> {
    const ids = await this.redis.zrange(this.indexKey(subscriptionId), '0', '-1');
    const keys = ids.map((id) => this.key(subscriptionId, id));
    for (let i = 0; i < keys.length; i += 500) await this.redis.del(...keys.slice(i, i + 500));
    await this.redis.del(this.indexKey(subscriptionId), this.deadLetterKey(subscriptionId));
  }

  private async getMany(subscriptionId: string, ids: string[]): Promise<(DeliveryRecord | undefined)[]> {
    if (ids.length === 0) return [];
    const values = await this.redis.mget(...ids.map((id) => this.key(subscriptionId, id)));
    return values.map((v) => (v ? (JSON.parse(v) as DeliveryRecord) : undefined));
  }
}
