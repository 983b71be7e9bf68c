import { z } from 'zod';
import { REFRESH_TRIGGERS } from '#core';

/**
 * Queue names. WARNING: renaming a queue strands every job already waiting in it (scheduled
 * refreshes included) until the sweep re-creates them. Add a new name instead of renaming.
 */
export const QueueName = {
  TokenRefresh: 'token-refresh',
  WebhookDelivery: 'webhook-delivery',
} as const;
export type QueueName = (typeof QueueName)[keyof typeof QueueName];

/** BullMQ key prefix; the hash tag keeps each queue's keys in one Redis Cluster slot. */
export function queuePrefix(redisPrefix: string): string {
  return `${redisPrefix}:{q}`;
}

/** Ids in job payloads are bounded: a payload is a handful of ids and numbers, never free text. */
const MAX_ID_LENGTH = 256;
const id = z.string().min(1).max(MAX_ID_LENGTH);
const count = z.number().int().nonnegative();

/**
 * Payload of a refresh job: ids and numbers only, never a secret. Changing a field changes what
 * jobs already queued must look like: add optional fields, never rename or retype one.
 */
export const RefreshJobSchema = z.object({
  credentialId: id,
  /** The token version this job means to replace (0 before the first token). */
  tokenVersion: count,
  /** Failed attempts the credential had when the job was planned. */
  attempt: count,
  trigger: z.enum(REFRESH_TRIGGERS),
  /** When the job was meant to run (epoch ms); `job.delay` reads 0 once released. */
  dueAt: z.number(),
  /** Scheduled jobs are stale once the credential's attempt count moved on; demanded ones are not. */
  demand: z.boolean(),
});
export type RefreshJobData = z.infer<typeof RefreshJobSchema>;

export const RefreshJobName = 'refresh';

/** One id per planned attempt, so that the same plan is enqueued once however often it is requested. */
export function refreshJobId(
  data: Pick<RefreshJobData, 'credentialId' | 'tokenVersion' | 'attempt' | 'demand'>,
): string {
  return `${data.demand ? 'd' : 'r'}-${data.credentialId}-t${data.tokenVersion}-a${data.attempt}`;
}

/** Payload of a webhook delivery job: where the event sits in the feed and who gets it. Ids only. */
export const WebhookDeliveryJobSchema = z.object({
  subscriptionId: id,
  /** `p<partition>-<feed entry id>`; also the delivery's id in the API and its `webhook-id`. */
  deliveryId: id,
  partition: count,
  feedId: id,
});
export type WebhookDeliveryJobData = z.infer<typeof WebhookDeliveryJobSchema>;

export const WebhookDeliveryJobName = 'deliver';

/** One job per (event, subscription, re-drive), so re-reading a feed entry never enqueues it twice. */
export function webhookDeliveryJobId(data: WebhookDeliveryJobData, redrive: number): string {
  return `wh-${data.subscriptionId}-${data.deliveryId}-r${redrive}`;
}
