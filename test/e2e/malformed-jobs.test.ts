import type { Job, Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { QueueName } from '#queues';
import { useStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

const SECRET = 'rt-hand-written-secret-0123456789';

/**
 * Jobs hand-written into the queues (wrong types, missing fields, a secret where an id belongs)
 * are failed for good by the running worker, with a reason naming the fields, not retried, and
 * neither the reason nor the worker's log quotes what the payload held; the worker carries on.
 */
describe('malformed job payloads', () => {
  // The worker alone: the jobs are written into Redis as a stranger to the api would.
  const stack = useStack({ name: 'malformed', api: false });

  const failed = (queue: Queue, job: Job) =>
    waitFor(async () => ((await job.getState()) === 'failed' ? queue.getJob(job.id!) : undefined), {
      timeoutMs: 20_000,
      message: `job ${job.id} failed`,
    });

  it.each([
    [QueueName.TokenRefresh, { credentialId: { refreshToken: SECRET }, tokenVersion: '1' }, /credentialId: /],
    [
      QueueName.WebhookDelivery,
      { subscriptionId: 'sub_x', deliveryId: SECRET, partition: SECRET, feedId: 7 },
      /partition: .*feedId: /,
    ],
  ])('%s: failed once, for good, with the fields named and no value quoted', async (name, data, fields) => {
    const queue = stack.queue(name);
    const job = await queue.add('hand-written', data, { attempts: 5, backoff: { type: 'fixed', delay: 10 } });
    const done = await failed(queue, job);
    expect(done?.failedReason).toMatch(new RegExp(`^malformed ${name} job payload: `));
    expect(done?.failedReason).toMatch(fields);
    expect(done?.failedReason).not.toContain(SECRET);
    expect(done?.attemptsMade).toBe(1);
    await waitFor(() => stack.worker.logs().includes(`"jobId":"${job.id}"`), {
      message: 'the failure is logged',
    });
    expect(stack.worker.exitCode).toBeNull();
  });

  it('logs ids and reasons only, and keeps running', async () => {
    expect(stack.worker.logs()).toContain('failing malformed job');
    expect(stack.worker.logs()).not.toContain(SECRET);
    expect(stack.worker.exitCode).toBeNull();
    // Still taking jobs: a well-formed refresh of a credential that does not exist ends as stale.
    const refresh = stack.queue(QueueName.TokenRefresh);
    const job = await refresh.add('refresh', {
      credentialId: 'no-such-credential',
      tokenVersion: 0,
      attempt: 0,
      trigger: 'manual',
      dueAt: Date.now(),
      demand: true,
    });
    await waitFor(async () => (await job.getState()) === 'completed', {
      timeoutMs: 20_000,
      message: 'a well-formed job still runs',
    });
  });
});
