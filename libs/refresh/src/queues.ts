import type { RefreshTrigger } from '#core';

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

/** Payload of a refresh job: ids and numbers only, never a secret. */
export interface RefreshJobData {
  credentialId: string;
  /** The token version this job means to replace (0 before the first token). */
  tokenVersion: number;
  /** Failed attempts the credential had when the job was planned. */
  attempt: number;
  trigger: RefreshTrigger;
  /** When the job was meant to run (epoch ms); `job.delay` reads 0 once released. */
  dueAt: number;
  /** Scheduled jobs are stale once the credential's attempt count moved on; demanded ones are not. */
  demand: boolean;
}

export const RefreshJobName = 'refresh';

/** One id per planned attempt, so that the same plan is enqueued once however often it is requested. */
export function refreshJobId(
  data: Pick<RefreshJobData, 'credentialId' | 'tokenVersion' | 'attempt' | 'demand'>,
): string {
  return `${data.demand ? 'd' : 'r'}-${data.credentialId}-t${data.tokenVersion}-a${data.attempt}`;
}

/** Payload of a webhook delivery job: where the event sits in the feed and who gets it. Ids only. */
export interface WebhookDeliveryJobData {
  subscriptionId: string;
  /** `p<partition>-<feed entry id>`; also the delivery's id in the API and its `webhook-id`. */
  deliveryId: string;
  partition: number;
  feedId: string;
}

export const WebhookDeliveryJobName = 'deliver';

/** One job per (event, subscription, re-drive), so re-reading a feed entry never enqueues it twice. */
export function webhookDeliveryJobId(data: WebhookDeliveryJobData, redrive: number): string {
  return `wh-${data.subscriptionId}-${data.deliveryId}-r${redrive}`;
}
