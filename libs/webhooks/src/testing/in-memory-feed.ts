import type { StoredEvent } from '#store';
import { decodeFeedEvent, type FeedBatch, type FeedRef, type FeedSource } from '../feed-source.js';

interface Entry {
  ref: FeedRef;
  /** The entry's field as stored; undefined once trimmed from the feed. */
  raw: string | undefined;
}

interface Pending {
  consumer: string;
  since: number;
}

const keyOf = (ref: FeedRef) => `${ref.partition}/${ref.id}`;

/**
 * The event feed and one consumer group in memory, with the semantics of Redis streams: the group
 * starts at the feed's end, each entry is given to one consumer and stays pending for it until
 * acknowledged, and pending entries idle long enough can be claimed by another consumer. Entries
 * are decoded as the Redis source decodes them.
 */
export class InMemoryFeed {
  private readonly entries: Entry[] = [];
  private readonly pending = new Map<string, Pending>();
  private delivered: number | undefined;
  private seq = 0;
  /** Every acknowledgement, in order. */
  readonly acked: FeedRef[] = [];

  constructor(
    private readonly now: () => number,
    private readonly options: { batch: number; claimIdleMs: number } = { batch: 100, claimIdleMs: 30_000 },
  ) {}

  /** Appends an event to a partition; returns its place. */
  append(partition: number, event: StoredEvent): FeedRef {
    return this.appendRaw(partition, JSON.stringify(event));
  }

  /** Appends an entry holding `raw` as it is (to store what is not an event). */
  appendRaw(partition: number, raw: string): FeedRef {
    this.seq += 1;
    const ref = { partition, id: `${this.seq}-0` };
    this.entries.push({ ref, raw });
    return ref;
  }

  /** Deletes an entry from the feed, as trimming does; a pending entry stays pending. */
  trim(ref: FeedRef): void {
    const entry = this.entries.find((e) => keyOf(e.ref) === keyOf(ref));
    if (entry) entry.raw = undefined;
  }

  /** The entries given to `consumer` (any consumer when omitted) and not acknowledged yet. */
  pendingOf(consumer?: string): FeedRef[] {
    return this.entries
      .filter((e) => {
        const p = this.pending.get(keyOf(e.ref));
        return p !== undefined && (consumer === undefined || p.consumer === consumer);
      })
      .map((e) => e.ref);
  }

  /** The source of one consumer of the group. */
  source(consumer: string): FeedSource & { closed: boolean } {
    const feed = this;
    return {
      closed: false,
      async ensureGroups() {
        feed.delivered ??= feed.entries.length;
      },
      async readNew() {
        if (feed.delivered === undefined) throw new Error('NOGROUP No such consumer group');
        const given = feed.entries.slice(feed.delivered, feed.delivered + feed.options.batch);
        feed.delivered += given.length;
        for (const e of given) feed.pending.set(keyOf(e.ref), { consumer, since: feed.now() });
        return batchOf(given);
      },
      async readPending() {
        const mine = feed.entries.filter((e) => feed.pending.get(keyOf(e.ref))?.consumer === consumer);
        return batchOf(mine.slice(0, feed.options.batch));
      },
      async claimAbandoned() {
        const idle = feed.entries
          .filter((e) => {
            const p = feed.pending.get(keyOf(e.ref));
            return p !== undefined && feed.now() - p.since >= feed.options.claimIdleMs;
          })
          .slice(0, feed.options.batch);
        for (const e of idle) feed.pending.set(keyOf(e.ref), { consumer, since: feed.now() });
        return batchOf(idle);
      },
      async ack(refs: FeedRef[]) {
        for (const ref of refs) if (feed.pending.delete(keyOf(ref))) feed.acked.push(ref);
      },
      close() {
        this.closed = true;
      },
    };
  }
}

function batchOf(entries: Entry[]): FeedBatch {
  const batch: FeedBatch = { entries: [], unreadable: [] };
  for (const { ref, raw } of entries) {
    const event = decodeFeedEvent(raw);
    if (event) batch.entries.push({ ...ref, event });
    else batch.unreadable.push(ref);
  }
  return batch;
}
