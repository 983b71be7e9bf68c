import { UnrecoverableError } from 'bullmq';
import type { z } from 'zod';
import { QueueName, RefreshJobSchema, WebhookDeliveryJobSchema } from './queues.js';

const JOB_SCHEMAS = {
  [QueueName.TokenRefresh]: RefreshJobSchema,
  [QueueName.WebhookDelivery]: WebhookDeliveryJobSchema,
} as const satisfies Record<QueueName, z.ZodObject>;

/** The same schemas refusing unknown fields, built once (enqueue runs on every planned refresh). */
const STRICT_JOB_SCHEMAS: Record<QueueName, z.ZodObject> = {
  [QueueName.TokenRefresh]: RefreshJobSchema.strict(),
  [QueueName.WebhookDelivery]: WebhookDeliveryJobSchema.strict(),
};

/** The payload type of a queue's jobs. */
export type JobData<Q extends QueueName> = z.infer<(typeof JOB_SCHEMAS)[Q]>;

/**
 * Which side checks a payload. `enqueue`: exactly the contract, an unknown field is refused, so
 * nothing else (a secret, say) ever reaches Redis. `process`: unknown fields are dropped, so a
 * job written by a newer producer during a rolling upgrade still runs on an older worker.
 */
export type JobSide = 'enqueue' | 'process';

/** Longest reason kept: a hand-written payload can hold any number of wrong fields. */
const MAX_REASON_LENGTH = 500;

/** A job payload that does not match its queue's schema. The reason names fields, never values. */
export class MalformedJobError extends Error {
  override readonly name = 'MalformedJobError';
  constructor(
    readonly queue: QueueName,
    readonly reason: string,
  ) {
    super(`malformed ${queue} job payload: ${reason}`);
  }
}

/**
 * The one check of a job payload, for producers (before adding a job) and processors (before
 * running one). Returns the payload as the contract types it; throws MalformedJobError.
 */
export function parseJobData<Q extends QueueName>(queue: Q, data: unknown, side: JobSide): JobData<Q> {
  const schema: z.ZodObject = side === 'enqueue' ? STRICT_JOB_SCHEMAS[queue] : JOB_SCHEMAS[queue];
  const parsed = schema.safeParse(data);
  if (parsed.success) return parsed.data as JobData<Q>;
  const reason = parsed.error.issues
    .map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
  throw new MalformedJobError(queue, reason.slice(0, MAX_REASON_LENGTH));
}

/**
 * A processor's view of its job's payload. A malformed payload (hand-written into Redis, or from
 * an incompatible producer) fails the job for good: BullMQ does not retry an UnrecoverableError,
 * and the reason (field names and what was expected, never values) is the job's failure reason.
 */
export function processableJobData<Q extends QueueName>(
  queue: Q,
  job: { id?: string | undefined; data: unknown },
  logger: { warn(fields: Record<string, unknown>): void },
): JobData<Q> {
  try {
    return parseJobData(queue, job.data, 'process');
  } catch (err) {
    if (!(err instanceof MalformedJobError)) throw err;
    logger.warn({ msg: 'failing malformed job', queue, jobId: job.id, reason: err.reason });
    throw new UnrecoverableError(err.message);
  }
}
