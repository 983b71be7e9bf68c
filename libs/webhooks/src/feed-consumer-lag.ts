import type { KeySpace, RedisClient } from '#store';
import { WEBHOOK_CONSUMER_GROUP } from './redis-feed-source.js';

/** How far the `webhooks` consumer group is behind the event feed, summed over the partitions. */
export interface FeedConsumerLag {
  /** Entries appended but not yet delivered to any consumer of the group. */
  lag: number;
  /** Entries delivered to a consumer but not acknowledged yet (in flight, or left by a dead worker). */
  pending: number;
  /** Partitions that have the group; 0 before any worker ever started (nothing to be behind on). */
  partitionsWithGroup: number;
  /** Partitions where Redis could not compute the lag (after deletions in the stream): counted as 0. */
  lagUnknown: number;
}

/** `XINFO GROUPS` answers a flat [field, value, ...] list per group (RESP2). */
function fieldsOf(reply: unknown): Map<string, unknown> {
  const map = new Map<string, unknown>();
  if (!Array.isArray(reply)) return map;
  for (let i = 0; i + 1 < reply.length; i += 2) map.set(String(reply[i]), reply[i + 1]);
  return map;
}

/**
 * Reads the consumer-group lag of every feed partition with `XINFO GROUPS` (one cheap command
 * per partition, each routed by its key on a cluster). A missing stream or group counts as no lag.
 */
export async function readFeedConsumerLag(redis: RedisClient, keys: KeySpace): Promise<FeedConsumerLag> {
  const result: FeedConsumerLag = { lag: 0, pending: 0, partitionsWithGroup: 0, lagUnknown: 0 };
  const streams = Array.from({ length: keys.partitions }, (_, p) => keys.feed(p));
  const replies = await Promise.all(
    streams.map((stream) =>
      (redis.call('XINFO', 'GROUPS', stream) as Promise<unknown[]>).catch((err: Error) => {
        if (/no such key/i.test(err.message)) return [];
        throw err;
      }),
    ),
  );
  for (const groups of replies) {
    const group = groups.map(fieldsOf).find((g) => g.get('name') === WEBHOOK_CONSUMER_GROUP);
    if (!group) continue;
    result.partitionsWithGroup += 1;
    result.pending += Number(group.get('pending') ?? 0);
    const lag = group.get('lag');
    if (lag === null || lag === undefined) result.lagUnknown += 1;
    else result.lag += Number(lag);
  }
  return result;
}
