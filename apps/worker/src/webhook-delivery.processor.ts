import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, Logger, type OnModuleInit } from '@nestjs/common';
import type { Job } from 'bullmq';
import type { AppConfig } from '#common';
import { processableJobData, QueueName, type WebhookDeliveryJobData } from '#queues';
import { CONFIG } from '#runtime';
import { type DeliveryOutcomeLabel, traceDelivery } from '#telemetry';
import { type DeliveryOutcome, DeliveryQueue, WebhookDeliverer } from '#webhooks';

/**
 * Runs webhook delivery jobs. A failed attempt throws so BullMQ retries it with exponential
 * backoff; the last failed attempt dead-letters the delivery (in the delivery log) and
 * completes the job, since re-drive goes through the API, not the queue's failed set. A malformed
 * payload fails the job for good.
 */
@Processor(QueueName.WebhookDelivery)
export class WebhookDeliveryProcessor extends WorkerHost implements OnModuleInit {
  private readonly logger = new Logger(WebhookDeliveryProcessor.name);

  constructor(
    private readonly deliverer: WebhookDeliverer,
    private readonly queue: DeliveryQueue,
    @Inject(CONFIG) private readonly config: AppConfig,
  ) {
    super();
  }

  onModuleInit(): void {
    this.worker.concurrency = this.config.webhooks.concurrency;
  }

  async process(job: Job<WebhookDeliveryJobData>): Promise<string> {
    const data = processableJobData(QueueName.WebhookDelivery, job, this.logger);
    const attempt = job.attemptsMade + 1;
    const attempts = job.opts.attempts ?? 1;
    const last = attempt >= attempts;
    const outcome = await traceDelivery(
      { subscriptionId: data.subscriptionId, deliveryId: data.deliveryId, attempt },
      () =>
        this.deliverer.deliver(data, {
          attempt,
          last,
          ...(last ? {} : { nextAttemptAt: Date.now() + this.queue.nextAttemptDelayMs(attempt) }),
        }),
      deliveryLabel,
    );
    const ids = { jobId: job.id, subscriptionId: data.subscriptionId, deliveryId: data.deliveryId, attempt };
    switch (outcome.type) {
      case 'delivered':
        this.logger.log({ msg: 'webhook delivered', ...ids, statusCode: outcome.statusCode });
        return 'delivered';
      case 'dropped':
        this.logger.debug({ msg: 'webhook delivery dropped', ...ids, reason: outcome.reason });
        return 'dropped';
      case 'failed':
        if (outcome.final) {
          this.logger.warn({
            msg: 'webhook dead-lettered',
            ...ids,
            error: outcome.error,
            statusCode: outcome.statusCode,
          });
          return 'dead';
        }
        this.logger.log({
          msg: 'webhook attempt failed; will retry',
          ...ids,
          error: outcome.error,
          statusCode: outcome.statusCode,
        });
        throw new Error(outcome.error);
    }
  }
}

function deliveryLabel(o: DeliveryOutcome): DeliveryOutcomeLabel {
  if (o.type === 'failed') return o.final ? 'dead' : 'retrying';
  return o.type;
}
