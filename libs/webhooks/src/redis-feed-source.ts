import type { Redis } from 'ioredis';
import { compareStreamIds, readStreams, streamsOf, type XReadReply } from '#events';
import type { FeedEntry, KeySpace } from '#store';
import { decodeFeedEvent, type FeedBatch, type FeedRef, type FeedSource } from './feed-source.js';

export const WEBHOOK_CONSUMER_GROUP = 'webhooks';

export interface RedisFeedSourceOptions {
  /** This process's name in the consumer group; stable names let a restarted worker resume its own backlog. */
  consumer: string;
  batch: number;
  blockMs: number;
  /** Entries another consumer read but did not acknowledge for this long are taken over. */
  claimIdleMs: number;
}

/**
 * The feed partitions read through the `webhooks` consumer group (XREADGROUP, XAUTOCLAIM, XACK).
 * A blocking read holds its connection, so reads and acknowledgements go over a connection of
 * their own, opened on first use and closed by `close`; creating the groups uses the shared one.
 */
export class RedisFeedSource implements FeedSource {
  private readonly streams: string[];
  private readonly partitionOfKey: Map<string, number>;
  private connection: Redis | undefined;
  private closed = false;

  constructor(
    private readonly redis: Redis,
    keys: KeySpace,
    private readonly options: RedisFeedSourceOptions,
    private readonly connectionName = 'worker:feed-dispatcher',
  ) {
    this.streams = Array.from({ length: keys.partitions }, (_, p) => keys.feed(p));
    this.partitionOfKey = new Map(this.streams.map((key, p) => [key, p]));
  }

  private get own(): Redis {
    if (this.closed) throw new Error('the feed source is closed');
    this.connection ??= this.redis.duplicate({ connectionName: this.connectionName });
    return this.connection;
  }

  async ensureGroups(): Promise<void> {
    for (const stream of this.streams) {
      try {
        await this.redis.xgroup('CREATE', stream, WEBHOOK_CONSUMER_GROUP, '$', 'MKSTREAM');
      } catch (err) {
        if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
      }
    }
  }

  readNew(): Promise<FeedBatch> {
    return this.read('>', this.options.blockMs);
  }

  readPending(): Promise<FeedBatch> {
    return this.read('0');
  }

  private async read(from: '>' | '0', blockMs?: number): Promise<FeedBatch> {
    const reply = await readStreams(
      this.own,
      ['XREADGROUP', 'GROUP', WEBHOOK_CONSUMER_GROUP, this.options.consumer],
      this.options.batch,
      this.streams,
      this.streams.map(() => from),
      blockMs,
    );
    return this.batchOf(reply);
  }

  async claimAbandoned(): Promise<FeedBatch> {
    const claimed: [string, [string, string[] | null][]][] = [];
    for (const stream of this.streams) {
      const [, entries] = (await this.own.call(
        'XAUTOCLAIM',
        stream,
        WEBHOOK_CONSUMER_GROUP,
        this.options.consumer,
        this.options.claimIdleMs,
        '0-0',
        'COUNT',
        this.options.batch,
      )) as [string, [string, string[] | null][]];
      claimed.push([stream, entries]);
    }
    return this.batchOf(claimed);
  }

  async ack(refs: FeedRef[]): Promise<void> {
    const byPartition = new Map<number, string[]>();
    for (const { partition, id } of refs)
      byPartition.set(partition, [...(byPartition.get(partition) ?? []), id]);
    for (const [partition, ids] of byPartition)
      await this.own.xack(this.streams[partition]!, WEBHOOK_CONSUMER_GROUP, ...ids);
  }

  close(): void {
    this.closed = true;
    this.connection?.disconnect();
  }

  /** Entries trimmed from the stream while pending come back without fields: unreadable, like non-events. */
  private batchOf(reply: XReadReply): FeedBatch {
    const batch: FeedBatch = { entries: [], unreadable: [] };
    for (const [key, items] of streamsOf(reply)) {
      const partition = this.partitionOfKey.get(key);
      if (partition === undefined) continue;
      for (const [id, fields] of items) {
        const event = decodeFeedEvent(fields?.[1]);
        if (event) batch.entries.push({ id, partition, event });
        else batch.unreadable.push({ partition, id });
      }
    }
    batch.entries.sort(
      (a: FeedEntry, b: FeedEntry) => compareStreamIds(a.id, b.id) || a.partition - b.partition,
    );
    return batch;
  }
}
