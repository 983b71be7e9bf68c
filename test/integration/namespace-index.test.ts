import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { newEvent } from '#core';
import { registeredEvent } from '../../libs/refresh/src/testing/registered-event.js';
import { storeOn, useStoreFixture } from '../support/store-fixture.js';

const PARTITIONS = 4;

const registered = (namespace: string, name: string) => registeredEvent(name, { namespace });

/** Calls of each Redis command so far (INFO commandstats): counts work without MONITOR. */
async function commandCalls(redis: Redis): Promise<Record<string, number>> {
  const info = await redis.info('commandstats');
  const calls: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[m[1]!] = Number(m[2]);
  return calls;
}

/**
 * Issue 10, finding 5: listing a namespace reads that namespace's index, so the Redis commands it
 * costs do not depend on how many credentials other namespaces hold; credentials stored before
 * the namespace indexes existed are added to them once.
 */
describe('per-namespace credential index', () => {
  const db = useStoreFixture('nidx', { partitions: PARTITIONS, historyMaxLen: 100 });

  const register = async (namespace: string, count: number, from = 0) => {
    const ids: string[] = [];
    for (let i = from; i < from + count; i++) {
      const id = `cred_${namespace}${String(i).padStart(12, '0')}`;
      await db.store.append(id, undefined, [registered(namespace, id)], { index: 'add' });
      ids.push(id);
    }
    return ids;
  };

  /** Commands one full listing of `namespace` costs (all pages), and what it listed. */
  const listCost = async (namespace: string) => {
    // A fresh store each time: the per-process "index ready" memo would hide the marker read.
    const lister = storeOn(db.redis, db.keys, { historyMaxLen: 100 });
    await lister.list({ namespace, limit: 1 }); // warms the marker check
    const before = await commandCalls(db.redis);
    const listed: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await lister.list({ namespace, limit: 20, ...(cursor ? { cursor } : {}) });
      listed.push(...page.items.map((p) => p.id));
      cursor = page.nextCursor;
    } while (cursor);
    const after = await commandCalls(db.redis);
    const delta = Object.fromEntries(
      Object.entries(after)
        .map(([cmd, n]) => [cmd, n - (before[cmd] ?? 0)] as const)
        .filter(([cmd, n]) => n > 0 && cmd !== 'info'),
    );
    return { listed, delta };
  };

  it('costs the same commands whether other namespaces hold 0 or 3,000 credentials', async () => {
    const mine = await register('a', 30);
    const alone = await listCost('a');
    expect(alone.listed.sort()).toEqual([...mine].sort());

    await register('b', 3_000);
    const crowded = await listCost('a');
    expect(crowded.listed.sort()).toEqual([...mine].sort());
    console.info(
      `listing namespace a: ${JSON.stringify(alone.delta)} alone, ${JSON.stringify(crowded.delta)} beside 3,000`,
    );
    expect(crowded.delta).toEqual(alone.delta);
    expect(crowded.delta.zrangebylex).toBeLessThanOrEqual(PARTITIONS + 2);
    // Only a's projections are read (HGET per credential; a page boundary may read a few twice).
    expect(crowded.delta.hget ?? 0).toBeLessThanOrEqual(2 * mine.length);
  });

  it('a revoked credential leaves its namespace index with the fleet index', async () => {
    const [id] = await register('c', 1);
    const stored = (await db.store.get(id!))!;
    await db.store.append(id!, stored.projection, [newEvent('credential.revoked', Date.now(), {})], {
      index: 'rem',
    });
    expect(await db.redis.zscore(db.keys.namespaceIndexOf(id!, 'c'), id!)).toBeNull();
    expect((await db.store.list({ namespace: 'c', limit: 10 })).items).toEqual([]);
  });

  it('adds credentials stored before namespace indexes once, at the first listing, and marks it done', async () => {
    const ids = await register('old', 12, 100);
    // As an older version left them: in the fleet index only, and no marker.
    for (let p = 0; p < PARTITIONS; p++) await db.redis.del(db.keys.namespaceIndex(p, 'old'));
    await db.redis.del(db.keys.global('nidx-backfilled'));

    const lister = storeOn(db.redis, db.keys, { historyMaxLen: 100 });
    const listed = (await lister.list({ namespace: 'old', limit: 100 })).items.map((p) => p.id);
    expect(listed.sort()).toEqual([...ids].sort());
    expect(await db.redis.get(db.keys.global('nidx-backfilled'))).not.toBeNull();
    let indexed = 0;
    for (let p = 0; p < PARTITIONS; p++) indexed += await db.redis.zcard(db.keys.namespaceIndex(p, 'old'));
    expect(indexed).toBe(ids.length);

    // Idempotent: running it again changes nothing.
    expect(await lister.backfillNamespaceIndex()).toBe(true);
    let again = 0;
    for (let p = 0; p < PARTITIONS; p++) again += await db.redis.zcard(db.keys.namespaceIndex(p, 'old'));
    expect(again).toBe(ids.length);
  });
});
