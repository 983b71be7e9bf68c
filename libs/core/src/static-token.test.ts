import { describe, expect, it } from 'vitest';
import type { CredentialProjection } from './credential.js';
import { staticTokenCheck } from './static-token.js';
import { testProjection } from './testing/projection.js';

const projection = (over: Partial<CredentialProjection> = {}) => testProjection({ kind: 'static', ...over });

describe('staticTokenCheck', () => {
  it('warns at the refresh time with a transient STATIC_TOKEN_EXPIRING and checks again at expiry', () => {
    const events = staticTokenCheck(projection(), 70_000, 'scheduled');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'refresh.failed',
      data: { attempt: 1, class: 'transient', code: 'STATIC_TOKEN_EXPIRING', nextAttemptAt: 100_000 },
    });
  });

  it('on an early demand, checks again at the refresh time rather than at expiry', () => {
    const [event] = staticTokenCheck(projection(), 10_000, 'on_demand');
    expect(event).toMatchObject({ data: { nextAttemptAt: 70_000, trigger: 'on_demand' } });
  });

  it('at expiry records expired and reauth_required, so nothing retries until a new token is imported', () => {
    const events = staticTokenCheck(projection({ failures: 1 }), 100_000, 'scheduled');
    expect(events.map((e) => e.type)).toEqual([
      'refresh.failed',
      'credential.expired',
      'credential.reauth_required',
    ]);
    expect(events[0]).toMatchObject({
      data: { attempt: 2, class: 'permanent', code: 'STATIC_TOKEN_EXPIRED' },
    });
    expect(events[1]).toMatchObject({ data: { expiredAt: 100_000 } });
  });

  it('does not record expiry twice', () => {
    const events = staticTokenCheck(projection({ state: 'expired' }), 200_000, 'sweep');
    expect(events.map((e) => e.type)).toEqual(['refresh.failed', 'credential.reauth_required']);
  });
});
