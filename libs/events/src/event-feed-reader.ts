import type { Redis } from 'ioredis';
import type { FeedEntry, KeySpace, StoredEvent } from '#store';
import { type EventFilter, matchesEventFilter } from './event-filter.js';
import {
  advance,
  beginningOf,
  compareStreamIds,
  decodeFeedCursor,
  encodeFeedCursor,
  type FeedPosition,
} from './feed-cursor.js';
import { readStreams } from './read-streams.js';

/** A feed event with the cursor that resumes right after it. */
export interface PositionedEvent {
  entry: FeedEntry;
  cursor: string;
}

export interface EventPage {
  items: PositionedEvent[];
  /** Resume here; equals the last item's cursor, or lies past entries the filter skipped. */
  nextCursor: string;
}

/** What `follow` yields: a matching event, or `idle` when a read brought nothing to show (time for a heartbeat). */
export type FollowItem = ({ kind: 'event' } & PositionedEvent) | { kind: 'idle'; cursor: string };

type StreamEntries = [id: string, fields: string[] | null][];
/** RESP2 answers a list of [key, entries] pairs; RESP3 a map, which ioredis flattens to key, entries, key, ... */
export type XReadReply = [key: string, entries: StreamEntries][] | (string | StreamEntries)[] | null;

/** The [key, entries] pairs of an XREAD or XREADGROUP reply, whichever protocol answered. */
export function streamsOf(reply: XReadReply): [string, StreamEntries][] {
  if (!reply || reply.length === 0) return [];
  if (typeof reply[0] !== 'string') return reply as [string, StreamEntries][];
  const pairs: [string, StreamEntries][] = [];
  for (let i = 0; i + 1 < reply.length; i += 2)
    pairs.push([reply[i] as string, reply[i + 1] as StreamEntries]);
  return pairs;
}

/**
 * Reads the global event feed (every partition) after a cursor. Order is kept per partition,
 * and so per credential (a credential lives in one partition); entries of different partitions
 * are interleaved by stream id, that is by time.
 *
 * All partitions are read with one XREAD on a single Redis; on Redis Cluster, where the
 * partitions sit in different slots, with one read per partition (see readStreams).
 */
export class EventFeedReader {
  private readonly partitionOfKey: Map<string, number>;

  constructor(
    private readonly redis: Redis,
    private readonly keys: KeySpace,
  ) {
    this.partitionOfKey = new Map(beginningOf(keys.partitions).map((_, p) => [keys.feed(p), p]));
  }

  /** Decodes a cursor from a client; throws InvalidCursorError (400) for anything else. */
  positionOf(cursor: string | undefined): FeedPosition {
    return cursor ? decodeFeedCursor(cursor, this.keys.partitions) : beginningOf(this.keys.partitions);
  }

  /** The position after the newest entry of every partition: "from now on". */
  async tail(): Promise<FeedPosition> {
    // One call per partition, not one pipeline: on a Redis Cluster the partitions live on
    // different nodes, and a pipeline must stay on one.
    const newest = await Promise.all(
      beginningOf(this.keys.partitions).map((_, p) =>
        this.redis.xrevrange(this.keys.feed(p), '+', '-', 'COUNT', 1),
      ),
    );
    return newest.map((entries) => entries[0]?.[0] ?? '0-0');
  }

  /**
   * One page of matching events after `cursor` (the beginning of the retained feed when absent).
   * Scans at most `maxScan` entries so a filter that matches nothing cannot pin the server; the
   * returned cursor then points past what was skipped.
   */
  async page(cursor: string | undefined, filter: EventFilter, limit: number): Promise<EventPage> {
    let position = this.positionOf(cursor);
    const items: PositionedEvent[] = [];
    const maxScan = Math.max(limit * 20, 2_000);
    let scanned = 0;
    while (items.length < limit && scanned < maxScan) {
      const batch = await this.readAfter(position, Math.min(500, Math.max(limit, 100)));
      if (batch.length === 0) break;
      for (const entry of batch) {
        position = advance(position, entry.partition, entry.id);
        scanned += 1;
        if (matchesEventFilter(entry.event, filter)) {
          items.push({ entry, cursor: encodeFeedCursor(position) });
          if (items.length >= limit) break;
        }
      }
    }
    return { items, nextCursor: encodeFeedCursor(position) };
  }

  /**
   * Follows the feed from `position` with blocking reads on `connection`, which must be a
   * connection of its own (a blocked XREAD holds it). Ends when `signal` aborts; abort also
   * has to disconnect `connection` to cut a read short.
   */
  async *follow(
    position: FeedPosition,
    filter: EventFilter,
    options: { connection: Redis; blockMs: number; signal: AbortSignal; batch?: number },
  ): AsyncGenerator<FollowItem> {
    let current = position;
    while (!options.signal.aborted) {
      let batch: FeedEntry[];
      try {
        batch = await this.readAfter(current, options.batch ?? 100, {
          blockMs: options.blockMs,
          connection: options.connection,
        });
      } catch (err) {
        if (options.signal.aborted) return;
        throw err;
      }
      let shown = 0;
      for (const entry of batch) {
        current = advance(current, entry.partition, entry.id);
        if (matchesEventFilter(entry.event, filter)) {
          shown += 1;
          yield { kind: 'event', entry, cursor: encodeFeedCursor(current) };
        }
      }
      if (shown === 0) yield { kind: 'idle', cursor: encodeFeedCursor(current) };
    }
  }

  /** Entries after `position` from every partition, merged by stream id. */
  async readAfter(
    position: FeedPosition,
    count: number,
    options: { blockMs?: number; connection?: Redis } = {},
  ): Promise<FeedEntry[]> {
    const connection = options.connection ?? this.redis;
    const streams = position.map((_, p) => this.keys.feed(p));
    const reply = await readStreams(connection, ['XREAD'], count, streams, position, options.blockMs);
    return this.toEntries(reply);
  }

  /** Turns an XREAD/XREADGROUP reply into feed entries (skipping entries trimmed meanwhile), merged by id. */
  toEntries(reply: XReadReply): FeedEntry[] {
    const entries: FeedEntry[] = [];
    for (const [key, items] of streamsOf(reply)) {
      const partition = this.partitionOfKey.get(key);
      if (partition === undefined) continue;
      for (const [id, fields] of items) {
        const json = fields?.[1];
        if (json) entries.push({ id, partition, event: JSON.parse(json) as StoredEvent });
      }
    }
    return entries.sort((a, b) => compareStreamIds(a.id, b.id) || a.partition - b.partition);
  }
}
