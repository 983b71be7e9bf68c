import { describe, expect, it } from 'vitest';
import { type CredentialProjection, newEvent } from '#core';
import { KeySpace, PoolStore } from '#store';
import { registeredEvent } from '../../libs/refresh/src/testing/registered-event.js';
import { uniquePrefix } from '../support/redis-server.js';
import { storeOn, useStoreFixture } from '../support/store-fixture.js';

const registered = (name: string) => registeredEvent(name, { namespace: 'ns-a' });

/**
 * The refresh path's fewer round trips (lease + read in one script, lease released by the append)
 * and the storage changes (compact history entries, time-trimmed feed), on a real Redis.
 */
describe('store round trips and compact storage', () => {
  const db = useStoreFixture('rt', { partitions: 2 });

  it('stores history entries without credential id and revision, and reads back the appended events', async () => {
    const id = 'cred_roundtrip000000000001';
    const first = await db.store.append(id, undefined, [registered(id)], { secrets: 'S', index: 'add' });
    const second = await db.store.append(id, first.projection, [
      newEvent('credential.updated', Date.now(), { name: 'renamed', secretsChanged: [] }),
      newEvent('credential.updated', Date.now(), { name: 'again', secretsChanged: [] }),
    ]);
    const raw = await db.redis.xrange(db.keys.history(id), '-', '+');
    expect(raw.map(([entryId]) => entryId)).toEqual(['1-0', '2-0', '3-0']);
    for (const [, fields] of raw) {
      const e = JSON.parse(fields[1]!) as Record<string, unknown>;
      expect(e.credentialId).toBeUndefined();
      expect(e.revision).toBeUndefined();
      expect(e.namespace).toBe('ns-a');
    }
    const history = await db.store.history(id);
    expect(history).toEqual([...first.events, ...second.events]);
    // Same JSON (field order included) as the event the append returned and the feed carries.
    expect(history.map((e) => JSON.stringify(e))).toEqual(
      [...first.events, ...second.events].map((e) => JSON.stringify(e)),
    );
    const feed = (await db.redis.xrange(db.keys.feed(db.keys.partitionOf(id)), '-', '+')).map(
      ([, fields]) => JSON.parse(fields[1]!) as { credentialId: string },
    );
    expect(feed.filter((e) => e.credentialId === id)).toEqual(history);
    expect(await db.store.history(id, { afterRevision: 2 })).toEqual([second.events[1]]);
  });

  it('reads history entries written in the full form before compaction', async () => {
    const id = 'cred_roundtrip000000000002';
    const full = { ...registered(id), credentialId: id, revision: 1, namespace: 'ns-a' };
    await db.redis.xadd(db.keys.history(id), '1-0', 'e', JSON.stringify(full));
    expect(await db.store.history(id)).toEqual([full]);
  });

  it('takes the lease and reads in one call; busy and missing are told apart', async () => {
    const id = 'cred_roundtrip000000000003';
    expect(await db.leases.acquireAndRead('cred_nonexistent0000000000', 5_000)).toEqual({
      status: 'missing',
    });
    expect(await db.redis.exists(db.keys.lease('cred_nonexistent0000000000'))).toBe(0);
    const { projection } = await db.store.append(id, undefined, [registered(id)], {
      secrets: 'S',
      token: 'T',
    });
    const taken = await db.leases.acquireAndRead(id, 5_000);
    expect(taken.status).toBe('leased');
    if (taken.status !== 'leased') return;
    expect(taken.stored).toEqual({ projection, secrets: 'S', token: 'T' });
    const busy = await db.leases.acquireAndRead(id, 5_000);
    expect(busy.status).toBe('busy');
    if (busy.status === 'busy') {
      expect(busy.projection).toEqual(projection);
      expect(busy.remainingMs).toBeGreaterThan(4_000);
    }
    expect(await db.leases.release(taken.lease)).toBe(true);
  });

  it('an append releases the lease only for its owner, and only when it succeeds', async () => {
    const id = 'cred_roundtrip000000000004';
    let { projection } = await db.store.append(id, undefined, [registered(id)]);
    const taken = await db.leases.acquireAndRead(id, 5_000);
    if (taken.status !== 'leased') throw new Error(`expected a lease, got ${taken.status}`);
    const rename = (name: string) => [
      newEvent('credential.updated', Date.now(), { name, secretsChanged: [] }),
    ];
    // Someone else's owner token: appended, lease kept.
    ({ projection } = await db.store.append(id, projection, rename('a'), {
      releaseLease: { owner: 'not-mine' },
    }));
    expect(await db.redis.get(db.keys.lease(id))).toBe(taken.lease.owner);
    // A conflicting append fails and keeps the lease.
    await expect(
      db.store.append(id, { ...projection, revision: 1 } as CredentialProjection, rename('b'), {
        releaseLease: { owner: taken.lease.owner },
      }),
    ).rejects.toThrow(/revision/);
    expect(await db.redis.get(db.keys.lease(id))).toBe(taken.lease.owner);
    // The owner's successful append releases it.
    await db.store.append(id, projection, rename('c'), { releaseLease: { owner: taken.lease.owner } });
    expect(await db.redis.exists(db.keys.lease(id))).toBe(0);
  });

  it('trims feed entries older than the retention, keeping newer ones', async () => {
    const k = new KeySpace(uniquePrefix('ret'), 1);
    const s = storeOn(db.redis, k, { feedRetentionMs: 60_000 });
    // 300 entries two hours old (several stream nodes, so `~` trimming can drop whole ones).
    for (let i = 0; i < 300; i++)
      await db.redis.xadd(k.feed(0), `${Date.now() - 7_200_000 + i}-0`, 'e', '{}');
    const id = 'cred_roundtrip000000000005';
    await s.append(id, undefined, [registered(id)]);
    const left = await db.redis.xrange(k.feed(0), '-', '+');
    expect(left.length).toBeLessThan(301);
    expect(Number(left.at(-1)![0].split('-')[0])).toBeGreaterThan(Date.now() - 60_000);
    expect(left.some(([, fields]) => fields[1]!.includes(id))).toBe(true);
  });
  it("a pool's round-robin cursor advances, and a pool deleted meanwhile is not re-created by it", async () => {
    const pools = new PoolStore(db.redis, db.keys);
    await pools.create({ id: 'pool_rr', namespace: 'ns', name: 'p', members: ['cred_a'], createdAt: 1 });
    expect(await pools.nextIndex('pool_rr')).toBe(1);
    expect(await pools.nextIndex('pool_rr')).toBe(2);
    await pools.delete('ns', 'pool_rr');
    // A pool token request that read the pool before the delete still asks for its cursor.
    expect(await pools.nextIndex('pool_rr')).toBe(0);
    expect(await db.redis.exists(db.keys.global('pool:pool_rr'))).toBe(0);
    expect(await pools.list('ns')).toEqual([]);
  });
});
