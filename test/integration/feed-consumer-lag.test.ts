import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeySpace } from '#store';
import { readFeedConsumerLag, WEBHOOK_CONSUMER_GROUP } from '#webhooks';
import { type RedisServer, startRedis, uniquePrefix } from '../support/redis-server.js';

/** The readiness check's view of the `webhooks` consumer group: lag, pending, absent group or stream. */
describe('readFeedConsumerLag', () => {
  let server: RedisServer;
  let redis: Redis;

  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url, { maxRetriesPerRequest: null });
  });

  afterAll(async () => {
    await redis?.quit();
    await server?.destroy();
  });

  it('counts nothing before the feed or the group exists', async () => {
    const keys = new KeySpace(uniquePrefix('lag'), 2);
    expect(await readFeedConsumerLag(redis, keys)).toEqual({
      lag: 0,
      pending: 0,
      partitionsWithGroup: 0,
      lagUnknown: 0,
    });
    await redis.xadd(keys.feed(0), '*', 'e', '1');
    expect((await readFeedConsumerLag(redis, keys)).partitionsWithGroup).toBe(0);
  });

  it('sums undelivered (lag) and unacknowledged (pending) entries over the partitions', async () => {
    const keys = new KeySpace(uniquePrefix('lag'), 2);
    for (const p of [0, 1])
      await redis.xgroup('CREATE', keys.feed(p), WEBHOOK_CONSUMER_GROUP, '$', 'MKSTREAM');
    for (let i = 0; i < 5; i++) await redis.xadd(keys.feed(0), '*', 'e', String(i));
    for (let i = 0; i < 3; i++) await redis.xadd(keys.feed(1), '*', 'e', String(i));
    expect(await readFeedConsumerLag(redis, keys)).toEqual({
      lag: 8,
      pending: 0,
      partitionsWithGroup: 2,
      lagUnknown: 0,
    });
    // A consumer reads two entries of partition 0 and acknowledges one.
    const read = (await redis.xreadgroup(
      'GROUP',
      WEBHOOK_CONSUMER_GROUP,
      'c1',
      'COUNT',
      2,
      'STREAMS',
      keys.feed(0),
      '>',
    )) as [string, [string, string[]][]][];
    await redis.xack(keys.feed(0), WEBHOOK_CONSUMER_GROUP, read[0]![1][0]![0]);
    expect(await readFeedConsumerLag(redis, keys)).toMatchObject({ lag: 6, pending: 1 });
  });
});
