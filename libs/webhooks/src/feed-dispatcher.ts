import type { Redis } from 'ioredis';
import { type EventFeedReader, readStreams, streamsOf } from '#events';
import type { CredentialStore, FeedEntry, KeySpace } from '#store';
import { type DeliveryLog, type DeliveryRecord, deliveryIdOf } from './delivery-log.js';
import type { DeliveryQueue } from './delivery-queue.js';
import { labelsInEvent, needsLabels, type Subscription, subscriptionWants } from './subscription.js';
import type { SubscriptionStore } from './subscription-store.js';

export const WEBHOOK_CONSUMER_GROUP = 'webhooks';

export interface FeedDispatcherOptions {
  /** This process's name in the consumer group; stable names let a restarted worker resume its own backlog. */
  consumer: string;
  batch: number;
  blockMs: number;
  /** Entries another consumer read but did not acknowledge for this long are taken over. */
  claimIdleMs: number;
  now?: () => number;
}

/**
 * Turns feed events into webhook delivery jobs. Every worker reads the feed partitions through
 * one Redis consumer group, so each entry goes to one worker; an entry is acknowledged only
 * after its delivery records and jobs exist (at-least-once). A re-read entry finds its records
 * and job ids already there and enqueues nothing new.
 *
 * Label selectors use the credential's labels as they are at dispatch time (from the event for
 * registrations and label changes, else from the projection): the event names only the
 * credential, and carrying labels in every event would duplicate them into the feed.
 */
export class FeedDispatcher {
  private readonly now: () => number;

  constructor(
    private readonly keys: KeySpace,
    private readonly reader: EventFeedReader,
    private readonly subscriptions: SubscriptionStore,
    private readonly log: DeliveryLog,
    private readonly queue: DeliveryQueue,
    private readonly credentials: CredentialStore,
    private readonly options: FeedDispatcherOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  private get streams(): string[] {
    return Array.from({ length: this.keys.partitions }, (_, p) => this.keys.feed(p));
  }

  /** Creates the consumer group on every partition, starting at the feed's end (no replay of old history). */
  async ensureGroups(redis: Redis): Promise<void> {
    for (const stream of this.streams) {
      try {
        await redis.xgroup('CREATE', stream, WEBHOOK_CONSUMER_GROUP, '$', 'MKSTREAM');
      } catch (err) {
        if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
      }
    }
  }

  /**
   * Reads one batch for this consumer and dispatches it. `pending` re-reads entries this
   * consumer was given but never acknowledged (after a crash); otherwise new entries, blocking
   * up to `blockMs` on `connection` (which must be its own: a blocked read holds it).
   */
  async readAndDispatch(connection: Redis, mode: 'new' | 'pending'): Promise<number> {
    const ids = this.streams.map(() => (mode === 'new' ? '>' : '0'));
    const reply = await readStreams(
      connection,
      ['XREADGROUP', 'GROUP', WEBHOOK_CONSUMER_GROUP, this.options.consumer],
      this.options.batch,
      this.streams,
      ids,
      mode === 'new' ? this.options.blockMs : undefined,
    );
    const entries = this.reader.toEntries(reply);
    // Entries trimmed from the stream while pending come back without fields: acknowledge them too.
    const trimmed = streamsOf(reply).flatMap(([key, items]) =>
      items.filter(([, fields]) => !fields).map(([id]) => ({ key, id })),
    );
    await this.dispatch(connection, entries);
    for (const { key, id } of trimmed) await connection.xack(key, WEBHOOK_CONSUMER_GROUP, id);
    return entries.length;
  }

  /** Takes over entries other consumers (dead workers) left unacknowledged, and dispatches them. */
  async claimAbandoned(connection: Redis): Promise<number> {
    let total = 0;
    for (const stream of this.streams) {
      const [, claimed] = (await connection.call(
        'XAUTOCLAIM',
        stream,
        WEBHOOK_CONSUMER_GROUP,
        this.options.consumer,
        this.options.claimIdleMs,
        '0-0',
        'COUNT',
        this.options.batch,
      )) as [string, [string, string[] | null][]];
      const entries = this.reader.toEntries([[stream, claimed]]);
      await this.dispatch(connection, entries);
      for (const [id, fields] of claimed)
        if (!fields) await connection.xack(stream, WEBHOOK_CONSUMER_GROUP, id);
      total += entries.length;
    }
    return total;
  }

  /** Matches entries to subscriptions, records and enqueues the deliveries, then acknowledges the entries. */
  async dispatch(connection: Redis, entries: FeedEntry[]): Promise<void> {
    if (entries.length === 0) return;
    // Only the namespaces of this batch, each loaded once and bounded by the per-namespace cap.
    const byNamespace = await this.subscriptions.listNamespaces(entries.map((e) => e.event.namespace));
    const subs = [...byNamespace.values()].flat().filter((s) => s.enabled);
    const labels = await this.labelsFor(entries, subs);
    const at = this.now();
    const records: DeliveryRecord[] = [];
    for (const entry of entries) {
      const known = labelsInEvent(entry.event) ?? labels.get(entry.event.credentialId);
      for (const sub of byNamespace.get(entry.event.namespace) ?? []) {
        if (!subscriptionWants(sub, entry.event, known)) continue;
        records.push({
          id: deliveryIdOf(entry.partition, entry.id),
          subscriptionId: sub.id,
          eventType: entry.event.type,
          credentialId: entry.event.credentialId,
          revision: entry.event.revision,
          partition: entry.partition,
          feedId: entry.id,
          status: 'pending',
          attempts: [],
          redrives: 0,
          createdAt: at,
          updatedAt: at,
        });
      }
    }
    const current = await this.log.createIfAbsent(records);
    const traceOf = new Map(entries.map((e) => [deliveryIdOf(e.partition, e.id), e.event.traceparent]));
    // Enqueue unless the delivery already ran; an existing job id makes a repeat add a no-op.
    const jobs = current
      .filter((r) => r.status === 'pending' && r.attempts.length === 0 && r.redrives === 0)
      .map((r) => ({
        data: {
          subscriptionId: r.subscriptionId,
          deliveryId: r.id,
          partition: r.partition,
          feedId: r.feedId,
        },
        redrive: 0,
        traceparent: traceOf.get(r.id),
      }));
    await this.queue.enqueue(jobs);
    const byStream = new Map<string, string[]>();
    for (const e of entries) {
      const stream = this.keys.feed(e.partition);
      byStream.set(stream, [...(byStream.get(stream) ?? []), e.id]);
    }
    for (const [stream, ids] of byStream) await connection.xack(stream, WEBHOOK_CONSUMER_GROUP, ...ids);
  }

  private async labelsFor(
    entries: FeedEntry[],
    subs: Subscription[],
  ): Promise<Map<string, Record<string, string>>> {
    const namespaces = new Set(subs.filter(needsLabels).map((s) => s.namespace));
    const ids = [
      ...new Set(
        entries
          .filter((e) => namespaces.has(e.event.namespace) && !labelsInEvent(e.event))
          .map((e) => e.event.credentialId),
      ),
    ];
    const projections = await this.credentials.getMany(ids);
    const out = new Map<string, Record<string, string>>();
    for (const [i, p] of projections.entries()) if (p) out.set(ids[i]!, p.labels);
    return out;
  }
}
