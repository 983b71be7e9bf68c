import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newEvent } from '#core';
import { EventFeedReader } from '#events';
import { QueueName, queuePrefix, type WebhookDeliveryJobData } from '#queues';
import type { CredentialStore } from '#store';
import {
  DeliveryLog,
  DeliveryQueue,
  FeedDispatcher,
  RedisFeedSource,
  readFeedConsumerLag,
  type Subscription,
  SubscriptionStore,
} from '#webhooks';
import { registeredEvent } from '../../libs/refresh/src/testing/registered-event.js';
import { uniquePrefix } from '../support/redis-server.js';
import { useStoreFixture } from '../support/store-fixture.js';

const PARTITIONS = 3;

/** The feed reader over several partitions and the dispatcher's at-least-once bookkeeping, on a real Redis. */
describe('global event feed', () => {
  const db = useStoreFixture('feed', { partitions: PARTITIONS });
  let reader: EventFeedReader;
  const ids = Array.from({ length: 6 }, (_, i) => `cred_feedtest${String(i).padStart(4, '0')}`);
  const sources: RedisFeedSource[] = [];
  afterAll(() => {
    for (const source of sources) source.close();
  });

  beforeAll(async () => {
    reader = new EventFeedReader(db.redis, db.keys);
    expect(new Set(ids.map((id) => db.keys.partitionOf(id))).size).toBeGreaterThan(1);
    // Interleaved appends: registration, then three renames each, round-robin.
    const current = new Map<string, Awaited<ReturnType<CredentialStore['append']>>['projection']>();
    for (let round = 0; round < 4; round++) {
      for (const [i, id] of ids.entries()) {
        const event =
          round === 0
            ? registeredEvent(id, {
                namespace: i % 2 === 0 ? 'even' : 'odd',
                labels: { team: i < 3 ? 'a' : 'b' },
              })
            : newEvent('credential.updated', Date.now(), { name: `${id}-${round}`, secretsChanged: [] });
        const { projection } = await db.store.append(id, current.get(id), [event]);
        current.set(id, projection);
      }
    }
  });

  it('pages through every partition after a cursor, in order per credential, namespace-scoped', async () => {
    const seen: { credentialId: string; revision: number }[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 20; page++) {
      const res = await reader.page(cursor, { namespace: 'even' }, 2);
      seen.push(...res.items.map((i) => i.entry.event));
      if (res.items.length === 0) break;
      expect(res.nextCursor).toBe(res.items.at(-1)!.cursor);
      cursor = res.nextCursor;
    }
    const even = ids.filter((_, i) => i % 2 === 0);
    expect(seen).toHaveLength(even.length * 4);
    for (const id of even) {
      expect(seen.filter((e) => e.credentialId === id).map((e) => e.revision)).toEqual([1, 2, 3, 4]);
    }
    // Resuming from a cursor in the middle yields exactly the rest.
    const firstPage = await reader.page(undefined, { namespace: 'even' }, 5);
    const rest = await reader.page(firstPage.nextCursor, { namespace: 'even' }, 100);
    expect(firstPage.items.length + rest.items.length).toBe(even.length * 4);
    const filtered = await reader.page(
      undefined,
      { namespace: 'odd', credentialIds: new Set([ids[1]!]), types: new Set(['credential.updated']) },
      100,
    );
    expect(filtered.items.map((i) => i.entry.event.revision)).toEqual([2, 3, 4]);
  });

  it('dispatches each (event, subscription) once even when the same entries are dispatched twice', async () => {
    const queueName = `${QueueName.WebhookDelivery}-${uniquePrefix('q')}`;
    const queue = new Queue<WebhookDeliveryJobData>(queueName, {
      connection: db.redis,
      prefix: queuePrefix(db.keys.prefix),
    });
    try {
      const subs = new SubscriptionStore(db.redis, db.keys);
      const log = new DeliveryLog(db.redis, db.keys);
      const sub: Subscription = {
        id: 'sub_feedtest0001',
        namespace: 'even',
        url: 'https://hooks.example/x',
        eventTypes: ['credential.updated'],
        labelSelector: { team: 'a' },
        enabled: true,
        createdAt: 1,
        updatedAt: 1,
      };
      await subs.save(sub, 'not-a-real-jwe');
      const source = new RedisFeedSource(db.redis, db.keys, {
        consumer: 'test',
        batch: 100,
        blockMs: 100,
        claimIdleMs: 1000,
      });
      sources.push(source);
      const dispatcher = new FeedDispatcher(
        source,
        subs,
        log,
        new DeliveryQueue(queue, { attempts: 3, backoffMs: 100 }),
        db.store,
      );
      const all = await reader.readAfter(['0-0', '0-0', '0-0'], 1000);
      await dispatcher.dispatch(all);
      await dispatcher.dispatch(all);
      // Even namespace, team a: credentials 0 and 2, three renames each.
      const wanted = ids.filter((_, i) => i % 2 === 0 && i < 3).length * 3;
      expect(await queue.count()).toBe(wanted);
      const deliveries = await log.list(sub.id, { limit: 100 });
      expect(deliveries).toHaveLength(wanted);
      expect(new Set(deliveries.map((d) => d.id)).size).toBe(wanted);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it('the consumer group: new entries go to one consumer, stay pending until acknowledged, and can be claimed once abandoned', async () => {
    const options = { batch: 100, blockMs: 50, claimIdleMs: 0 };
    const a = new RedisFeedSource(db.redis, db.keys, { ...options, consumer: 'a' });
    const b = new RedisFeedSource(db.redis, db.keys, { ...options, consumer: 'b' });
    sources.push(a, b);
    await a.ensureGroups();
    await b.ensureGroups();
    const none = { entries: [], unreadable: [] };
    // The group starts at the feed's end: the history appended above is not replayed.
    expect(await a.readNew()).toEqual(none);
    const event = {
      ...newEvent('credential.updated', 1, { name: 'x', secretsChanged: [] }),
      credentialId: 'cred_feedadapter0001',
      revision: 2,
      namespace: 'adapter',
    };
    const good = await db.redis.xadd(db.keys.feed(1), '*', 'e', JSON.stringify(event));
    const bad = await db.redis.xadd(db.keys.feed(2), '*', 'e', '{not json');
    const first = await a.readNew();
    expect(first.entries).toEqual([{ partition: 1, id: good, event }]);
    expect(first.unreadable).toEqual([{ partition: 2, id: bad }]);
    expect(await b.readNew()).toEqual(none);
    expect((await a.readPending()).entries.map((e) => e.id)).toEqual([good]);
    expect(await b.readPending()).toEqual(none);
    // a died: b takes over what a left unacknowledged.
    const claimed = await b.claimAbandoned();
    expect(claimed.entries.map((e) => e.id)).toEqual([good]);
    expect(claimed.unreadable).toEqual([{ partition: 2, id: bad }]);
    expect(await a.readPending()).toEqual(none);
    // An entry trimmed from the feed while pending comes back without its event.
    await db.redis.xdel(db.keys.feed(1), good!);
    expect(await b.readPending()).toEqual({
      entries: [],
      unreadable: [
        { partition: 1, id: good },
        { partition: 2, id: bad },
      ],
    });
    await b.ack([...claimed.unreadable, { partition: 1, id: good! }]);
    expect(await b.readPending()).toEqual(none);
    expect((await readFeedConsumerLag(db.redis, db.keys)).pending).toBe(0);
  });
});
