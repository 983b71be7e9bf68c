import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '#store';
import { labelsInEvent, type Subscription, subscriptionWants } from './subscription.js';
import { generateWebhookSecret, webhookSecretProblem } from './webhook-secret.js';

const sub = (over: Partial<Subscription> = {}): Subscription => ({
  id: 'sub_aaaaaaaaaaaa',
  namespace: 'ns-a',
  url: 'https://example.com/hook',
  eventTypes: [],
  labelSelector: {},
  enabled: true,
  createdAt: 0,
  updatedAt: 0,
  ...over,
});

const tokenUpdated: StoredEvent = {
  type: 'token.updated',
  credentialId: 'cred_0123456789',
  revision: 2,
  at: 1000,
  namespace: 'ns-a',
  data: {
    tokenVersion: 1,
    issuedAt: 1000,
    expiresAt: 61_000,
    refreshAt: 41_000,
    tokenType: 'Bearer',
    refreshTokenRotated: false,
    trigger: 'scheduled',
    lifetimeSource: 'expires_in',
  },
};

describe('subscription matching', () => {
  it('takes every event of its namespace by default', () => {
    expect(subscriptionWants(sub(), tokenUpdated, undefined)).toBe(true);
  });

  it('never takes another namespace’s events, nor anything while disabled', () => {
    expect(subscriptionWants(sub({ namespace: 'ns-b' }), tokenUpdated, {})).toBe(false);
    expect(subscriptionWants(sub({ enabled: false }), tokenUpdated, {})).toBe(false);
  });

  it('filters by event type', () => {
    expect(subscriptionWants(sub({ eventTypes: ['token.updated'] }), tokenUpdated, {})).toBe(true);
    expect(
      subscriptionWants(
        sub({ eventTypes: ['refresh.failed', 'credential.reauth_required'] }),
        tokenUpdated,
        {},
      ),
    ).toBe(false);
  });

  it('needs every selected label to be equal, and refuses when labels are unknown', () => {
    const selective = sub({ labelSelector: { team: 'payments', env: 'prod' } });
    expect(subscriptionWants(selective, tokenUpdated, { team: 'payments', env: 'prod', extra: 'x' })).toBe(
      true,
    );
    expect(subscriptionWants(selective, tokenUpdated, { team: 'payments', env: 'dev' })).toBe(false);
    expect(subscriptionWants(selective, tokenUpdated, { team: 'payments' })).toBe(false);
    expect(subscriptionWants(selective, tokenUpdated, undefined)).toBe(false);
  });

  it('reads labels from registrations and label changes themselves', () => {
    const registered: StoredEvent = {
      type: 'credential.registered',
      credentialId: 'cred_0123456789',
      revision: 1,
      at: 1,
      namespace: 'ns-a',
      data: {
        namespace: 'ns-a',
        kind: 'oauth2.client_credentials',
        name: 'n',
        labels: { team: 'payments' },
        grant: { tokenEndpoint: 'https://x', clientAuth: 'client_secret_basic' },
        policy: {},
      },
    };
    expect(labelsInEvent(registered)).toEqual({ team: 'payments' });
    expect(labelsInEvent(tokenUpdated)).toBeUndefined();
  });
});

describe('webhook secrets', () => {
  it('generates Standard Webhooks secrets the library accepts', () => {
    const secret = generateWebhookSecret();
    expect(secret).toMatch(/^whsec_/);
    expect(webhookSecretProblem(secret)).toBeUndefined();
    const wh = new Webhook(secret);
    const at = new Date();
    const signature = wh.sign('msg_1', at, '{"a":1}');
    expect(
      wh.verify('{"a":1}', {
        'webhook-id': 'msg_1',
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': signature,
      }),
    ).toEqual({ a: 1 });
  });

  it('explains what is wrong with a supplied secret', () => {
    expect(webhookSecretProblem('hunter2')).toMatch(/whsec_/);
    expect(webhookSecretProblem(`whsec_${Buffer.alloc(8).toString('base64')}`)).toMatch(/24 to 64 bytes/);
  });
});
