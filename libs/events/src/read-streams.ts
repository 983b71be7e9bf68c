import type { RedisClient } from '#store';
import { streamsOf, type XReadReply } from './event-feed-reader.js';

/** How often a cluster consumer re-polls empty partitions while it "blocks". */
export const CLUSTER_POLL_MS = 20;

/**
 * XREAD / XREADGROUP over several feed partitions. On one Redis it is one command (blocking up
 * to `blockMs`). On a Redis Cluster the partitions sit in different slots, so a multi-stream
 * read would fail with CROSSSLOT: there it reads each partition with its own non-blocking
 * command (routed to that partition's node) and, while all are empty, polls every
 * CLUSTER_POLL_MS until `blockMs` has passed. A blocking read per partition is not an option:
 * one blocked command holds the cluster's connection to that node for every other partition.
 *
 * `head` is the command up to COUNT: `['XREAD']` or `['XREADGROUP', 'GROUP', group, consumer]`.
 */
export async function readStreams(
  connection: RedisClient,
  head: (string | number)[],
  count: number,
  streams: string[],
  ids: string[],
  blockMs?: number,
): Promise<XReadReply> {
  const [command, ...args] = head as [string, ...(string | number)[]];
  if (!connection.isCluster || streams.length === 1) {
    const block = blockMs !== undefined ? ['BLOCK', blockMs] : [];
    return (await connection.call(
      command,
      ...args,
      'COUNT',
      count,
      ...block,
      'STREAMS',
      ...streams,
      ...ids,
    )) as XReadReply;
  }
  const deadline = Date.now() + (blockMs ?? 0);
  for (;;) {
    const replies = await Promise.all(
      streams.map(
        (stream, i) =>
          connection.call(
            command,
            ...args,
            'COUNT',
            count,
            'STREAMS',
            stream,
            ids[i]!,
          ) as Promise<XReadReply>,
      ),
    );
    const pairs = replies.flatMap((r) => streamsOf(r));
    if (blockMs === undefined || pairs.some(([, items]) => items.length > 0) || Date.now() >= deadline) {
      return pairs.length > 0 ? pairs : null;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(CLUSTER_POLL_MS, deadline - Date.now())));
  }
}
