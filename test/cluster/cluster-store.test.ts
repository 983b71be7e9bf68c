/**
 * The store and the feed reader on a real 3-master Redis Cluster with 4 feed partitions: every
 * command is single-slot, partitions spread over the nodes, and reads that span partitions
 * (getMany, the feed's tail and merged reads) work. Runs only under `npm run test:cluster`.
 */
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GrantSettings, newEvent } from '#core';
import { EventFeedReader } from '#events';
import { createRedis, isClusterUrl, parseClusterUrl } from '#runtime';
import { CredentialStore, KeySpace, LeaseManager, type RedisClient } from '#store';
import { type RedisServer, startRedis, uniquePrefix } from '../support/redis-server.js';

describe('Redis Cluster', () => {
  let redis: RedisServer;
  let client: RedisClient;
  let keys: KeySpace;
  let store: CredentialStore;

  beforeAll(async () => {
    redis = await startRedis();
    client = createRedis(redis.url, 'cluster-test');
    keys = new KeySpace(uniquePrefix('cl'), 4);
    store = new CredentialStore(client, keys, { historyMaxLen: 100, feedMaxLen: 10_000 });
  });

  afterAll(async () => {
    client?.disconnect();
    await redis?.destroy();
  });

  it('parses cluster URLs and connects with a Cluster client', () => {
    expect(isClusterUrl(redis.url)).toBe(true);
    expect(parseClusterUrl('redis+cluster://u:p%40ss@a:1,b:2')).toEqual({
      nodes: [
        { host: 'a', port: 1 },
        { host: 'b', port: 2 },
      ],
      username: 'u',
      password: 'p@ss',
      tls: false,
    });
    expect(client).toBeInstanceOf(Cluster);
  });

  it('appends, reads many across partitions, and merges the partitioned feed', async () => {
    const reader = new EventFeedReader(client as never, keys);
    const start = await reader.tail();
    const grant = { tokenEndpoint: 'https://idp.example/token', clientId: 'c' } as unknown as GrantSettings;
    const ids = Array.from({ length: 40 }, (_, i) => `cred_cluster${String(i).padStart(8, '0')}`);
    for (const id of ids) {
      await store.append(
        id,
        undefined,
        [
          newEvent('credential.registered', Date.now(), {
            namespace: 'default',
            kind: 'oauth2.client_credentials',
            name: id,
            labels: {},
            grant,
            policy: {},
          }),
        ],
        { secrets: 'jwe', index: 'add' },
      );
    }
    expect(new Set(ids.map((id) => keys.partitionOf(id))).size).toBe(4);
    // The four partitions' slots are served by more than one master.
    const nodes = new Set(
      await Promise.all(
        [0, 1, 2, 3].map(async (p) => {
          const slot = Number(await (client as Cluster).call('CLUSTER', 'KEYSLOT', keys.feed(p)));
          return (client as Cluster).slots[slot]?.join(',');
        }),
      ),
    );
    expect(nodes.size).toBeGreaterThan(1);

    const many = await store.getMany([...ids].reverse());
    expect(many.map((p) => p?.id)).toEqual([...ids].reverse());
    const page = await store.list({ limit: 100 });
    expect(page.items.map((p) => p.id).sort()).toEqual([...ids].sort());
    // The namespace indexes (same hash tag as each partition) are written by the append script
    // and backfilled in per-partition pipelines: both single-slot on a cluster.
    await client.del(keys.global('nidx-backfilled'));
    const ofNamespace = await new CredentialStore(client, keys, {
      historyMaxLen: 100,
      feedMaxLen: 10_000,
    }).list({
      namespace: 'default',
      limit: 100,
    });
    expect(ofNamespace.items.map((p) => p.id).sort()).toEqual([...ids].sort());
    expect(await client.get(keys.global('nidx-backfilled'))).not.toBeNull();
    expect((await store.list({ namespace: 'other', limit: 100 })).items).toEqual([]);

    const read = await reader.readAfter(start, 100);
    expect(read.map((e) => e.event.credentialId).sort()).toEqual([...ids].sort());
    const tail = await reader.tail();
    expect(await reader.readAfter(tail, 100, { blockMs: 50 })).toEqual([]);

    const lease = await new LeaseManager(client, keys).acquire(ids[0]!, 5_000);
    expect(lease).toBeDefined();
  });
});
