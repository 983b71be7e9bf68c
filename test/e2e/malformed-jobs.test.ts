import { type Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueName, queuePrefix } from '#queues';
import { type AppProcess, startApp } from '../support/processes.js';
import { type RedisServer, startRedis, uniquePrefix } from '../support/redis-server.js';
import { waitFor } from '../support/wait.js';

const SECRET = 'rt-hand-written-secret-0123456789';

/**
 * Jobs hand-written into the queues (wrong types, missing fields, a secret where an id belongs)
 * are failed for good by the running worker, with a reason naming the fields, not retried, and
 * neither the reason nor the worker's log quotes what the payload held; the worker carries on.
 */
describe('malformed job payloads', () => {
  let redis: RedisServer;
  let connection: Redis;
  let worker: AppProcess;
  const queues: Queue[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    const prefix = uniquePrefix('malformed');
    worker = await startApp('worker', { REDIS_URL: redis.url, TK_REDIS_PREFIX: prefix });
    connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    for (const name of Object.values(QueueName))
      queues.push(new Queue(name, { connection, prefix: queuePrefix(prefix) }));
  });

  afterAll(async () => {
    for (const q of queues) await q.close();
    connection?.disconnect();
    await worker?.stop();
    await redis?.destroy();
  });

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
    const queue = queues.find((q) => q.name === name)!;
    const job = await queue.add('hand-written', data, { attempts: 5, backoff: { type: 'fixed', delay: 10 } });
    const done = await failed(queue, job);
    expect(done?.failedReason).toMatch(new RegExp(`^malformed ${name} job payload: `));
    expect(done?.failedReason).toMatch(fields);
    expect(done?.failedReason).not.toContain(SECRET);
    expect(done?.attemptsMade).toBe(1);
    await waitFor(() => worker.logs().includes(`"jobId":"${job.id}"`), { message: 'the failure is logged' });
    expect(worker.exitCode).toBeNull();
  });

  it('logs ids and reasons only, and keeps running', async () => {
    expect(worker.logs()).toContain('failing malformed job');
    expect(worker.logs()).not.toContain(SECRET);
    expect(worker.exitCode).toBeNull();
    // Still taking jobs: a well-formed refresh of a credential that does not exist ends as stale.
    const refresh = queues.find((q) => q.name === QueueName.TokenRefresh)!;
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
