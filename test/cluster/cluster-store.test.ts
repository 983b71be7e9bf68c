/**
 * The store and the feed reader on a real 3-master Redis Cluster with 4 feed partitions: every
 * command is single-slot, partitions spread over the nodes, and reads that span partitions
 * (getMany, the feed's tail and merged reads) work. Runs only under `npm run test:cluster`.
 */
import { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { GrantSettings } from '#core';
import { EventFeedReader } from '#events';
import { createRedis, isClusterUrl, parseClusterUrl } from '#runtime';
import { registeredEvent } from '../../libs/refresh/src/testing/registered-event.js';
import { storeOn, useStoreFixture } from '../support/store-fixture.js';

describe('Redis Cluster', () => {
  const limits = { historyMaxLen: 100, feedMaxLen: 10_000 };
  const db = useStoreFixture('cl', {
    partitions: 4,
    ...limits,
    connect: (url) => createRedis(url, 'cluster-test'),
  });

  it('parses cluster URLs and connects with a Cluster client', () => {
    expect(isClusterUrl(db.server.url)).toBe(true);
    expect(parseClusterUrl('redis+cluster://u:p%40ss@a:1,b:2')).toEqual({
      nodes: [
        { host: 'a', port: 1 },
        { host: 'b', port: 2 },
      ],
      username: 'u',
      password: 'p@ss',
      tls: false,
    });
    expect(db.redis).toBeInstanceOf(Cluster);
  });

  it('appends, reads many across partitions, and merges the partitioned feed', async () => {
    const reader = new EventFeedReader(db.redis as never, db.keys);
    const start = await reader.tail();
    const grant = { tokenEndpoint: 'https://idp.example/token', clientId: 'c' } as unknown as GrantSettings;
    const ids = Array.from({ length: 40 }, (_, i) => `cred_cluster${String(i).padStart(8, '0')}`);
    for (const id of ids) {
      await db.store.append(id, undefined, [registeredEvent(id, { grant })], {
        secrets: 'jwe',
        index: 'add',
      });
    }
    expect(new Set(ids.map((id) => db.keys.partitionOf(id))).size).toBe(4);
    // The four partitions' slots are served by more than one master.
    const nodes = new Set(
      await Promise.all(
        [0, 1, 2, 3].map(async (p) => {
          const slot = Number(await (db.redis as Cluster).call('CLUSTER', 'KEYSLOT', db.keys.feed(p)));
          return (db.redis as Cluster).slots[slot]?.join(',');
        }),
      ),
    );
    expect(nodes.size).toBeGreaterThan(1);

    const many = await db.store.getMany([...ids].reverse());
    expect(many.map((p) => p?.id)).toEqual([...ids].reverse());
    const page = await db.store.list({ limit: 100 });
    expect(page.items.map((p) => p.id).sort()).toEqual([...ids].sort());
    // The namespace indexes (same hash tag as each partition) are written by the append script
    // and backfilled in per-partition pipelines: both single-slot on a cluster.
    await db.redis.del(db.keys.global('nidx-backfilled'));
    const ofNamespace = await storeOn(db.redis, db.keys, limits).list({
      namespace: 'default',
      limit: 100,
    });
    expect(ofNamespace.items.map((p) => p.id).sort()).toEqual([...ids].sort());
    expect(await db.redis.get(db.keys.global('nidx-backfilled'))).not.toBeNull();
    expect((await db.store.list({ namespace: 'other', limit: 100 })).items).toEqual([]);

    const read = await reader.readAfter(start, 100);
    expect(read.map((e) => e.event.credentialId).sort()).toEqual([...ids].sort());
    const tail = await reader.tail();
    expect(await reader.readAfter(tail, 100, { blockMs: 50 })).toEqual([]);

    const lease = await db.leases.acquire(ids[0]!, 5_000);
    expect(lease).toBeDefined();
  });
});
