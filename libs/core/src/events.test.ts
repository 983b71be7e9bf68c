import { describe, expect, it } from 'vitest';
import { applyEvent } from './credential-fold.js';
import { type CredentialEvent, EVENT_TYPES, type EventPayloads, type EventType, newEvent } from './events.js';

const AT = Date.UTC(2025, 0, 15, 12, 0, 0);

/** A minimal payload of every event type. */
const SAMPLES: { [T in EventType]: EventPayloads[T] } = {
  'credential.registered': {
    namespace: 'ns',
    kind: 'oauth2.client_credentials',
    name: 'n',
    labels: {},
    grant: { tokenEndpoint: 'https://idp.example.com/token', clientAuth: 'client_secret_post' },
    policy: {},
  },
  'credential.updated': { secretsChanged: [] },
  'token.updated': {
    tokenVersion: 1,
    issuedAt: AT,
    expiresAt: AT + 3_600_000,
    refreshAt: AT + 2_400_000,
    tokenType: 'Bearer',
    refreshTokenRotated: true,
    trigger: 'registration',
    lifetimeSource: 'jwt_exp',
  },
  'refresh.failed': { attempt: 1, class: 'transient', code: 'TIMEOUT', message: 'timeout', trigger: 'sweep' },
  'credential.reauth_required': { code: 'INVALID_GRANT', message: 'invalid_grant' },
  'credential.expired': { expiredAt: AT },
  'credential.recovered': { afterAttempts: 3, downtimeMs: 10_000 },
  'credential.revoked': {},
};

describe('newEvent', () => {
  it('builds an event without revision: the store assigns it', () => {
    const event = newEvent('credential.expired', AT, { expiredAt: AT });
    expect(event).toEqual({ type: 'credential.expired', at: AT, data: { expiredAt: AT } });
    expect(event).not.toHaveProperty('revision');
  });
});

describe('EVENT_TYPES', () => {
  it('lists the eight documented event types once each', () => {
    expect(new Set(EVENT_TYPES).size).toBe(8);
    expect([...EVENT_TYPES].sort()).toEqual(Object.keys(SAMPLES).sort());
  });

  it.each(EVENT_TYPES.filter((t) => t !== 'credential.registered'))(
    '%s is folded after registration',
    (type) => {
      const registered = applyEvent(undefined, {
        ...newEvent('credential.registered', AT, SAMPLES['credential.registered']),
        credentialId: 'c1',
        revision: 1,
      } as CredentialEvent);
      const event = {
        ...newEvent(type, AT + 1, SAMPLES[type]),
        credentialId: 'c1',
        revision: 2,
      } as CredentialEvent;
      const next = applyEvent(registered, event);
      expect(next.revision).toBe(2);
      expect(next.updatedAt).toBe(AT + 1);
    },
  );
});
