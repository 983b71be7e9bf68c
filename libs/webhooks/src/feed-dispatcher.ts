import type { CredentialStore, FeedEntry } from '#store';
import { type DeliveryLog, type DeliveryRecord, deliveryIdOf } from './delivery-log.js';
import type { DeliveryQueue } from './delivery-queue.js';
import type { FeedBatch, FeedRef, FeedSource } from './feed-source.js';
import { labelsInEvent, needsLabels, type Subscription, subscriptionWants } from './subscription.js';
import type { SubscriptionStore } from './subscription-store.js';

export interface FeedDispatcherOptions {
  now?: () => number;
  /** Told of entries acknowledged without dispatch: trimmed from the feed, or not an event. */
  onUnreadable?: (refs: FeedRef[]) => void;
}

/**
 * Turns feed events into webhook delivery jobs. Every worker reads the feed through one consumer
 * group (the FeedSource), so each entry goes to one worker; an entry is acknowledged only after
 * its delivery records and jobs exist (at-least-once). A re-read entry finds its records and job
 * ids already there and enqueues nothing new.
 *
 * Label selectors use the credential's labels as they are at dispatch time (from the event for
 * registrations and label changes, else from the projection): the event names only the
 * credential, and carrying labels in every event would duplicate them into the feed.
 */
export class FeedDispatcher {
  private readonly now: () => number;

  constructor(
    private readonly source: FeedSource,
    private readonly subscriptions: Pick<SubscriptionStore, 'listNamespaces'>,
    private readonly log: Pick<DeliveryLog, 'createIfAbsent'>,
    private readonly queue: Pick<DeliveryQueue, 'enqueue'>,
    private readonly credentials: Pick<CredentialStore, 'getMany'>,
    private readonly options: FeedDispatcherOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  ensureGroups(): Promise<void> {
    return this.source.ensureGroups();
  }

  /**
   * Reads one batch for this consumer and dispatches it: `pending` re-reads the entries this
   * consumer was given but never acknowledged, `new` waits a while for entries nobody was given.
   * Returns how many entries were handled (unreadable ones included).
   */
  async readAndDispatch(mode: 'new' | 'pending'): Promise<number> {
    return this.dispatchBatch(await (mode === 'new' ? this.source.readNew() : this.source.readPending()));
  }

  /** Takes over entries other consumers (dead workers) left unacknowledged, and dispatches them. */
  async claimAbandoned(): Promise<number> {
    return this.dispatchBatch(await this.source.claimAbandoned());
  }

  /** Stops: a read in progress is cut short; its entries stay pending for this consumer or another. */
  close(): void {
    this.source.close();
  }

  private async dispatchBatch(batch: FeedBatch): Promise<number> {
    await this.dispatch(batch.entries);
    if (batch.unreadable.length > 0) {
      await this.source.ack(batch.unreadable);
      this.options.onUnreadable?.(batch.unreadable);
    }
    return batch.entries.length + batch.unreadable.length;
  }

  /** Matches entries to subscriptions, records and enqueues the deliveries, then acknowledges the entries. */
  async dispatch(entries: FeedEntry[]): Promise<void> {
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
    await this.source.ack(entries.map(({ partition, id }) => ({ partition, id })));
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
