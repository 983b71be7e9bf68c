import { UnrecoverableError } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { MalformedJobError, parseJobData, processableJobData } from './job-data.js';
import { QueueName, type RefreshJobData, type WebhookDeliveryJobData } from './queues.js';

const refresh: RefreshJobData = {
  credentialId: 'cred-1',
  tokenVersion: 3,
  attempt: 0,
  trigger: 'scheduled',
  dueAt: 1_700_000_000_000,
  demand: false,
};
const delivery: WebhookDeliveryJobData = {
  subscriptionId: 'sub_abc',
  deliveryId: 'p0-1700000000000-0',
  partition: 0,
  feedId: '1700000000000-0',
};

/** What a rejection says, for both sides. */
function reasonOf(queue: QueueName, data: unknown, side: 'enqueue' | 'process'): string {
  try {
    parseJobData(queue, data, side);
  } catch (err) {
    expect(err).toBeInstanceOf(MalformedJobError);
    return (err as MalformedJobError).message;
  }
  throw new Error('the payload was accepted');
}

describe('job payloads are checked in one place', () => {
  it.each([
    [QueueName.TokenRefresh, refresh],
    [QueueName.WebhookDelivery, delivery],
  ] as const)('accepts a valid %s payload on both sides, unchanged', (queue, data) => {
    expect(parseJobData(queue, data, 'enqueue')).toEqual(data);
    expect(parseJobData(queue, structuredClone(data), 'process')).toEqual(data);
  });

  it('refuses a missing field, naming it', () => {
    const { credentialId: _, ...rest } = refresh;
    for (const side of ['enqueue', 'process'] as const) {
      expect(reasonOf(QueueName.TokenRefresh, rest, side)).toMatch(
        /^malformed token-refresh job payload: credentialId: /,
      );
    }
    const { feedId: __, ...partial } = delivery;
    expect(reasonOf(QueueName.WebhookDelivery, partial, 'process')).toMatch(/feedId: /);
  });

  it.each([
    ['tokenVersion', 'a string', { ...refresh, tokenVersion: '3' }],
    ['tokenVersion', 'a fraction', { ...refresh, tokenVersion: 1.5 }],
    ['attempt', 'negative', { ...refresh, attempt: -1 }],
    ['trigger', 'not a trigger', { ...refresh, trigger: 'whenever' }],
    ['dueAt', 'not finite', { ...refresh, dueAt: Number.POSITIVE_INFINITY }],
    ['demand', 'not a boolean', { ...refresh, demand: 'yes' }],
    ['credentialId', 'empty', { ...refresh, credentialId: '' }],
    ['credentialId', 'unbounded', { ...refresh, credentialId: 'x'.repeat(10_000) }],
  ])('refuses %s when %s', (field, _what, data) => {
    expect(reasonOf(QueueName.TokenRefresh, data, 'process')).toContain(`${field}: `);
  });

  it('refuses a payload that is not an object', () => {
    for (const data of [null, undefined, 'refresh', 42, []]) {
      expect(reasonOf(QueueName.TokenRefresh, data, 'process')).toMatch(
        /^malformed token-refresh job payload: /,
      );
    }
  });

  it('never quotes the values it refuses', () => {
    const secret = 'rt-very-secret-value';
    const reason = reasonOf(
      QueueName.WebhookDelivery,
      { ...delivery, subscriptionId: { token: secret }, partition: secret, feedId: secret.repeat(100) },
      'process',
    );
    expect(reason).not.toContain(secret);
    expect(reason).toMatch(/subscriptionId: .*partition: .*feedId: /);
  });

  it('extra fields: refused when enqueuing (nothing else reaches Redis), dropped when processing', () => {
    const extra = { ...refresh, refreshToken: 'rt-1' };
    expect(reasonOf(QueueName.TokenRefresh, extra, 'enqueue')).toContain('refreshToken');
    // A newer producer's added field does not fail an older worker's job during a rolling upgrade.
    expect(parseJobData(QueueName.TokenRefresh, extra, 'process')).toEqual(refresh);
  });

  it('a processor fails a malformed job for good, logging ids and the reason only', () => {
    const logged: Record<string, unknown>[] = [];
    const logger = { warn: (fields: Record<string, unknown>) => logged.push(fields) };
    expect(() =>
      processableJobData(QueueName.TokenRefresh, { id: 'job-1', data: { credentialId: 7 } }, logger),
    ).toThrow(UnrecoverableError);
    expect(logged).toEqual([
      {
        msg: 'failing malformed job',
        queue: 'token-refresh',
        jobId: 'job-1',
        reason: expect.stringContaining('credentialId: '),
      },
    ]);
    expect(processableJobData(QueueName.TokenRefresh, { id: 'job-2', data: refresh }, logger)).toEqual(
      refresh,
    );
    expect(logged).toHaveLength(1);
  });
});
