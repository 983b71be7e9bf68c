import { randomBytes } from 'node:crypto';
import type { KeyRing } from '#common';
import type { EventType } from '#core';
import type { DeliveryLog, DeliveryRecord, DeliveryStatus } from './delivery-log.js';
import type { DeliveryQueue } from './delivery-queue.js';
import {
  DeliveryInProgressError,
  DeliveryNotFoundError,
  InvalidSubscriptionInputError,
  SubscriptionLimitError,
  SubscriptionNotFoundError,
} from './errors.js';
import type { Subscription } from './subscription.js';
import { type SubscriptionStore, WEBHOOK_SECRET_FIELD } from './subscription-store.js';
import { generateWebhookSecret, webhookSecretProblem } from './webhook-secret.js';

export interface CreateSubscriptionInput {
  namespace: string;
  url: string;
  eventTypes?: EventType[];
  labelSelector?: Record<string, string>;
  description?: string;
  enabled?: boolean;
  /** A `whsec_` secret to sign with; one is generated when absent. */
  secret?: string;
}

export type UpdateSubscriptionInput = Partial<Omit<CreateSubscriptionInput, 'namespace' | 'secret'>>;

/** Checks a receiver URL against the outbound policy; throws with a reason to show the caller. */
export type UrlChecker = (url: string) => Promise<void>;

/** Most subscriptions a namespace may have unless configured otherwise. */
export const DEFAULT_MAX_SUBSCRIPTIONS_PER_NAMESPACE = 100;

/** Managing subscriptions and their deliveries (the API side of webhooks). */
export class SubscriptionService {
  constructor(
    private readonly store: SubscriptionStore,
    private readonly log: DeliveryLog,
    private readonly queue: DeliveryQueue,
    private readonly keyRing: KeyRing,
    private readonly checkUrl: UrlChecker,
    private readonly now: () => number = Date.now,
    private readonly maxPerNamespace = DEFAULT_MAX_SUBSCRIPTIONS_PER_NAMESPACE,
  ) {}

  /** Creates a subscription; the secret is returned this once and stored encrypted. */
  async create(input: CreateSubscriptionInput): Promise<{ subscription: Subscription; secret: string }> {
    await this.validateUrl(input.url);
    if (input.secret !== undefined) {
      const problem = webhookSecretProblem(input.secret);
      if (problem) throw new InvalidSubscriptionInputError('secret', problem);
    }
    const secret = input.secret ?? generateWebhookSecret();
    const at = this.now();
    const subscription: Subscription = {
      id: `sub_${randomBytes(12).toString('base64url')}`,
      namespace: input.namespace,
      url: input.url,
      eventTypes: [...new Set(input.eventTypes ?? [])],
      labelSelector: input.labelSelector ?? {},
      ...(input.description !== undefined ? { description: input.description } : {}),
      enabled: input.enabled ?? true,
      createdAt: at,
      updatedAt: at,
    };
    const secretJwe = await this.keyRing.encrypt(secret, subscription.id, WEBHOOK_SECRET_FIELD);
    if (!(await this.store.saveNew(subscription, secretJwe, this.maxPerNamespace))) {
      throw new SubscriptionLimitError(this.maxPerNamespace);
    }
    return { subscription, secret };
  }

  async get(namespace: string, id: string): Promise<Subscription> {
    const found = await this.store.get(id);
    if (!found || found.subscription.namespace !== namespace) throw new SubscriptionNotFoundError(id);
    return found.subscription;
  }

  list(namespace: string): Promise<Subscription[]> {
    return this.store.listNamespace(namespace);
  }

  async update(namespace: string, id: string, input: UpdateSubscriptionInput): Promise<Subscription> {
    const current = await this.get(namespace, id);
    if (input.url !== undefined) await this.validateUrl(input.url);
    const next: Subscription = {
      ...current,
      ...(input.url !== undefined ? { url: input.url } : {}),
      ...(input.eventTypes !== undefined ? { eventTypes: [...new Set(input.eventTypes)] } : {}),
      ...(input.labelSelector !== undefined ? { labelSelector: input.labelSelector } : {}),
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.enabled !== undefined ? { enabled: input.enabled } : {}),
      updatedAt: this.now(),
    };
    await this.store.save(next);
    return next;
  }

  /** Deletes a subscription; deliveries still queued for it are dropped when they run. */
  async remove(namespace: string, id: string): Promise<void> {
    const sub = await this.get(namespace, id);
    await this.store.remove(sub);
    await this.log.removeAll(sub.id);
  }

  async deliveries(
    namespace: string,
    id: string,
    options: { limit: number; status?: DeliveryStatus },
  ): Promise<DeliveryRecord[]> {
    await this.get(namespace, id);
    return this.log.list(id, options);
  }

  async delivery(namespace: string, id: string, deliveryId: string): Promise<DeliveryRecord> {
    await this.get(namespace, id);
    const record = await this.log.get(id, deliveryId);
    if (!record) throw new DeliveryNotFoundError(id, deliveryId);
    return record;
  }

  /**
   * Sends a finished delivery again (dead-lettered, or delivered and wanted once more) with the
   * same `webhook-id`, so receivers that de-duplicate can. Returns the record as re-queued.
   */
  async redrive(namespace: string, id: string, deliveryId: string): Promise<DeliveryRecord> {
    const record = await this.delivery(namespace, id, deliveryId);
    if (record.status === 'pending' || record.status === 'retrying')
      throw new DeliveryInProgressError(deliveryId);
    return this.requeue(record);
  }

  /** Re-drives every dead-lettered delivery of a subscription. */
  async redriveDeadLetters(namespace: string, id: string): Promise<DeliveryRecord[]> {
    await this.get(namespace, id);
    const out: DeliveryRecord[] = [];
    for (const deliveryId of await this.log.deadLetters(id)) {
      const record = await this.log.get(id, deliveryId);
      if (record?.status === 'dead') out.push(await this.requeue(record));
    }
    return out;
  }

  private async requeue(record: DeliveryRecord): Promise<DeliveryRecord> {
    const { deadLetteredAt: _d, deliveredAt: _del, nextAttemptAt: _n, ...rest } = record;
    const next: DeliveryRecord = {
      ...rest,
      status: 'pending',
      redrives: record.redrives + 1,
      updatedAt: this.now(),
    };
    await this.log.put(next);
    await this.queue.enqueue([
      {
        data: {
          subscriptionId: record.subscriptionId,
          deliveryId: record.id,
          partition: record.partition,
          feedId: record.feedId,
        },
        redrive: next.redrives,
      },
    ]);
    return next;
  }

  private async validateUrl(url: string): Promise<void> {
    try {
      await this.checkUrl(url);
    } catch (err) {
      throw new InvalidSubscriptionInputError('url', (err as Error).message);
    }
  }
}
