import type { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { type KeyRing, OutboundPolicyError } from '#common';
import { eventView } from '#events';
import type { WebhookDeliveryJobData } from '#queues';
import type { KeySpace, StoredEvent } from '#store';
import type { DeliveryAttempt, DeliveryLog, DeliveryRecord } from './delivery-log.js';
import { type SubscriptionStore, WEBHOOK_SECRET_FIELD } from './subscription-store.js';

export interface WebhookDelivererOptions {
  timeoutMs: number;
  maxResponseBytes: number;
  fetch: typeof fetch;
  now?: () => number;
}

/** What one attempt came to. `failed` with `final` means the delivery is now dead-lettered. */
export type DeliveryOutcome =
  | { type: 'delivered'; statusCode: number }
  | { type: 'failed'; final: boolean; error: string; statusCode?: number }
  | { type: 'dropped'; reason: string };

export interface AttemptContext {
  /** 1 for the first attempt. */
  attempt: number;
  /** No attempt follows this one if it fails. */
  last: boolean;
  /** When the next attempt runs if this one fails (for the delivery log). */
  nextAttemptAt?: number;
}

/**
 * Delivers one event to one subscription: reads the event from the feed, signs the body per
 * Standard Webhooks (`webhook-id` = `msg_<delivery id>`, stable across retries so receivers
 * can de-duplicate), POSTs it with a timeout and a response-size cap, and records the attempt.
 */
export class WebhookDeliverer {
  private readonly now: () => number;

  constructor(
    private readonly redis: Redis,
    private readonly keys: KeySpace,
    private readonly subscriptions: SubscriptionStore,
    private readonly log: DeliveryLog,
    private readonly keyRing: KeyRing,
    private readonly options: WebhookDelivererOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  async deliver(job: WebhookDeliveryJobData, ctx: AttemptContext): Promise<DeliveryOutcome> {
    const record = await this.log.get(job.subscriptionId, job.deliveryId);
    const found = await this.subscriptions.get(job.subscriptionId);
    if (!found?.subscription.enabled) {
      const reason = found ? 'subscription disabled' : 'subscription deleted';
      if (record) await this.log.put({ ...record, status: 'dropped', updatedAt: this.now() });
      return { type: 'dropped', reason };
    }
    if (!record) return { type: 'dropped', reason: 'delivery record expired' };
    if (record.status === 'delivered') return { type: 'delivered', statusCode: 200 };

    const event = await this.readEvent(job.partition, job.feedId);
    if (!event) {
      // Trimmed from the feed (TK_FEED_MAXLEN): nothing left to send, retrying cannot help.
      return this.finish(
        record,
        ctx,
        { at: this.now(), durationMs: 0, outcome: 'failure', error: 'event no longer in the feed' },
        true,
      );
    }
    const secret = await this.keyRing.decrypt(found.secretJwe, job.subscriptionId, WEBHOOK_SECRET_FIELD);
    const body = JSON.stringify({
      type: event.type,
      timestamp: new Date(event.at).toISOString(),
      data: eventView(event),
    });
    const msgId = `msg_${job.deliveryId}`;
    const sentAt = new Date(this.now());
    const signature = new Webhook(secret).sign(msgId, sentAt, body);

    const started = this.now();
    const { refused, ...attempt } = await this.post(found.subscription.url, body, {
      'content-type': 'application/json',
      'user-agent': 'tokenkeeper-webhooks',
      'webhook-id': msgId,
      'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
      'webhook-signature': signature,
    });
    // A URL the operator's policy refuses stays refused: dead-letter now, re-drive once it is allowed.
    return this.finish(
      record,
      ctx,
      { at: started, durationMs: this.now() - started, ...attempt },
      refused === true,
    );
  }

  private async finish(
    record: DeliveryRecord,
    ctx: AttemptContext,
    attempt: DeliveryAttempt,
    permanent: boolean,
  ): Promise<DeliveryOutcome> {
    const at = this.now();
    const attempts = [...record.attempts, attempt];
    const { nextAttemptAt: _, ...rest } = record;
    if (attempt.outcome === 'success') {
      await this.log.put({ ...rest, attempts, status: 'delivered', deliveredAt: at, updatedAt: at });
      return { type: 'delivered', statusCode: attempt.statusCode ?? 200 };
    }
    const final = permanent || ctx.last;
    await this.log.put({
      ...rest,
      attempts,
      status: final ? 'dead' : 'retrying',
      updatedAt: at,
      ...(final ? { deadLetteredAt: at } : ctx.nextAttemptAt ? { nextAttemptAt: ctx.nextAttemptAt } : {}),
    });
    return {
      type: 'failed',
      final,
      error: attempt.error ?? 'failed',
      ...(attempt.statusCode !== undefined ? { statusCode: attempt.statusCode } : {}),
    };
  }

  private async readEvent(partition: number, feedId: string): Promise<StoredEvent | undefined> {
    const entries = await this.redis.xrange(this.keys.feed(partition), feedId, feedId);
    const json = entries[0]?.[1]?.[1];
    return json ? (JSON.parse(json) as StoredEvent) : undefined;
  }

  private async post(
    url: string,
    body: string,
    headers: Record<string, string>,
  ): Promise<Pick<DeliveryAttempt, 'outcome' | 'statusCode' | 'error'> & { refused?: boolean }> {
    try {
      const res = await this.options.fetch(url, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      // Read (and drop) at most the cap so the connection can be reused; the body is never kept.
      await drain(res, this.options.maxResponseBytes);
      if (res.status >= 200 && res.status < 300) return { outcome: 'success', statusCode: res.status };
      return { outcome: 'failure', statusCode: res.status, error: `receiver answered ${res.status}` };
    } catch (err) {
      const { error, refused } = describeFetchError(err, this.options.timeoutMs);
      return { outcome: 'failure', error, refused };
    }
  }
}

async function drain(res: Response, maxBytes: number): Promise<void> {
  if (!res.body) return;
  const reader = res.body.getReader();
  let read = 0;
  try {
    while (read <= maxBytes) {
      const { done, value } = await reader.read();
      if (done) return;
      read += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/** A short reason without the URL (it may carry a credential in its query) or a stack. */
function describeFetchError(err: unknown, timeoutMs: number): { error: string; refused: boolean } {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError')
    return { error: `timed out after ${timeoutMs} ms`, refused: false };
  if (
    e?.cause?.code === OutboundPolicyError.code ||
    (e as { code?: string })?.code === OutboundPolicyError.code
  ) {
    const message = e.cause?.message ?? e.message ?? '';
    return { error: `refused by the outbound URL policy: ${message}`, refused: true };
  }
  if (e?.cause?.code) return { error: `connection failed: ${e.cause.code}`, refused: false };
  if (e?.cause?.message) return { error: e.cause.message.slice(0, 200), refused: false };
  return { error: (e?.message ?? 'request failed').slice(0, 200), refused: false };
}
