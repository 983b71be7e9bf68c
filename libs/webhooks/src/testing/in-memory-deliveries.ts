import type { CredentialProjection } from '#core';
import type { WebhookDeliveryJobData } from '#queues';
import type { DeliveryLog, DeliveryRecord } from '../delivery-log.js';
import type { DeliveryQueue } from '../delivery-queue.js';
import type { Subscription } from '../subscription.js';
import type { SubscriptionStore } from '../subscription-store.js';

/** Subscriptions by namespace, as `SubscriptionStore.listNamespaces` answers. */
export class InMemorySubscriptions implements Pick<SubscriptionStore, 'listNamespaces'> {
  readonly subscriptions: Subscription[] = [];

  async listNamespaces(namespaces: Iterable<string>): Promise<Map<string, Subscription[]>> {
    const out = new Map<string, Subscription[]>();
    for (const ns of new Set(namespaces))
      out.set(
        ns,
        this.subscriptions.filter((s) => s.namespace === ns).map((s) => structuredClone(s)),
      );
    return out;
  }
}

/** Delivery records by (subscription, delivery id); `createIfAbsent` keeps what is there. */
export class InMemoryDeliveryLog implements Pick<DeliveryLog, 'createIfAbsent'> {
  readonly records = new Map<string, DeliveryRecord>();

  async createIfAbsent(records: DeliveryRecord[]): Promise<DeliveryRecord[]> {
    return records.map((r) => {
      const key = `${r.subscriptionId}:${r.id}`;
      if (!this.records.has(key)) this.records.set(key, structuredClone(r));
      return structuredClone(this.records.get(key)!);
    });
  }
}

type DeliveryJob = Parameters<DeliveryQueue['enqueue']>[0][number];

/** Records the delivery jobs enqueued; the next `failEnqueues` calls fail as if Redis refused them. */
export class RecordingDeliveryQueue implements Pick<DeliveryQueue, 'enqueue'> {
  readonly jobs: DeliveryJob[] = [];
  failEnqueues = 0;
  /** Runs before each enqueue is recorded. */
  beforeEnqueue?: (jobs: DeliveryJob[]) => void;

  async enqueue(jobs: DeliveryJob[]): Promise<void> {
    this.beforeEnqueue?.(jobs);
    if (this.failEnqueues > 0) {
      this.failEnqueues -= 1;
      throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
    }
    this.jobs.push(...jobs);
  }

  /** The data of every job enqueued, in order. */
  get data(): WebhookDeliveryJobData[] {
    return this.jobs.map((j) => j.data);
  }
}

/** Credential projections for label lookups, as `CredentialStore.getMany` answers. */
export class InMemoryProjections {
  readonly projections = new Map<string, CredentialProjection>();
  async getMany(ids: string[]): Promise<(CredentialProjection | undefined)[]> {
    return ids.map((id) => this.projections.get(id));
  }
}
