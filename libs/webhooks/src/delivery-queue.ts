import type { Queue } from 'bullmq';
import {
  parseJobData,
  QueueName,
  type WebhookDeliveryJobData,
  WebhookDeliveryJobName,
  webhookDeliveryJobId,
} from '#queues';

export interface DeliveryRetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** First retry delay; doubles each attempt (BullMQ exponential backoff). */
  backoffMs: number;
}

/** Puts delivery jobs on the `webhook-delivery` queue; the only producer of that queue. */
export class DeliveryQueue {
  constructor(
    private readonly queue: Queue<WebhookDeliveryJobData>,
    readonly retry: DeliveryRetryPolicy,
  ) {}

  /**
   * `traceparent`: the trace of the event delivered (from its feed entry). It becomes the job's
   * telemetry metadata (the format of bullmq-otel's propagation), so the worker's consumer span
   * and the delivery join that trace rather than the dispatcher's.
   */
  async enqueue(
    jobs: { data: WebhookDeliveryJobData; redrive: number; traceparent?: string | undefined }[],
  ): Promise<void> {
    if (jobs.length === 0) return;
    await this.queue.addBulk(
      jobs.map(({ data, redrive, traceparent }) => ({
        name: WebhookDeliveryJobName,
        data: parseJobData(QueueName.WebhookDelivery, data, 'enqueue'),
        opts: {
          jobId: webhookDeliveryJobId(data, redrive),
          attempts: this.retry.attempts,
          backoff: { type: 'exponential', delay: this.retry.backoffMs, jitter: 0.2 },
          // The delivery log keeps the outcome for the API; finished jobs need not linger.
          removeOnComplete: { age: 3600, count: 10_000 },
          removeOnFail: { age: 86_400 },
          ...(traceparent ? { telemetry: { metadata: JSON.stringify({ traceparent }) } } : {}),
        },
      })),
    );
  }

  /** When the next attempt after `attemptsMade` failed ones roughly runs (before jitter). */
  nextAttemptDelayMs(attemptsMade: number): number {
    return this.retry.backoffMs * 2 ** Math.max(0, attemptsMade - 1);
  }
}
