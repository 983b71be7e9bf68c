import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CredentialProjection, CredentialState } from './credential.js';
import { CREDENTIAL_STATES } from './credential.js';
import { applyEvent, foldEvents } from './credential-fold.js';
import { EventFoldError, TokenkeeperError } from './errors.js';
import { type CredentialEvent, type EventPayloads, type NewEvent, newEvent } from './events.js';

const ID = 'cred_01JHX6Q5Z8';
const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const registered = (at = T0): NewEvent =>
  newEvent('credential.registered', at, {
    namespace: 'payments',
    kind: 'oauth2.refresh_token',
    name: 'stripe-connect',
    labels: { team: 'billing' },
    grant: {
      tokenEndpoint: 'https://auth.example.com/oauth/token',
      clientId: 'client-1',
      clientAuth: 'client_secret_basic',
    },
    policy: { minBufferSeconds: 120 },
  });

const tokenUpdated = (at: number, overrides: Partial<EventPayloads['token.updated']> = {}): NewEvent =>
  newEvent('token.updated', at, {
    tokenVersion: 1,
    issuedAt: at,
    expiresAt: at + HOUR,
    refreshAt: at + 40 * MINUTE,
    tokenType: 'Bearer',
    refreshTokenRotated: false,
    trigger: 'scheduled',
    lifetimeSource: 'expires_in',
    ...overrides,
  });

/** The token a projection holds after `tokenUpdated(at)`: its facts, none of the event-only fields. */
const heldToken = (at: number, overrides: Partial<NonNullable<CredentialProjection['token']>> = {}) => ({
  tokenVersion: 1,
  issuedAt: at,
  expiresAt: at + HOUR,
  refreshAt: at + 40 * MINUTE,
  tokenType: 'Bearer',
  ...overrides,
});

const refreshFailed = (
  at: number,
  attempt: number,
  extra: Partial<EventPayloads['refresh.failed']> = {},
): NewEvent =>
  newEvent('refresh.failed', at, {
    attempt,
    class: 'transient',
    code: 'PROVIDER_UNAVAILABLE',
    message: 'provider answered 503',
    trigger: 'scheduled',
    ...extra,
  });

const reauthRequired = (at: number): NewEvent =>
  newEvent('credential.reauth_required', at, { code: 'INVALID_GRANT', message: 'invalid_grant' });

const secretsUpdated = (at: number, secretsChanged = ['refreshToken']): NewEvent =>
  newEvent('credential.updated', at, { secretsChanged });

/** Numbers a list of new events as one credential's stream, starting at revision 1. */
function stream(events: readonly NewEvent[], credentialId = ID): CredentialEvent[] {
  return events.map((event, i) => ({ ...event, credentialId, revision: i + 1 }) as CredentialEvent);
}

function fold(...events: NewEvent[]): CredentialProjection {
  const state = foldEvents(stream(events));
  if (!state) throw new Error('empty history');
  return state;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

const arbFailureClass = fc.constantFrom('transient' as const, 'permanent' as const);
const arbTrigger = fc.constantFrom(
  'registration' as const,
  'scheduled' as const,
  'manual' as const,
  'on_demand' as const,
  'invalidated' as const,
  'sweep' as const,
);

/** One event after registration, as a function of its time. */
const arbLaterEvent: fc.Arbitrary<(at: number) => NewEvent> = fc.oneof(
  fc
    .record({
      name: fc.option(fc.string(), { nil: undefined }),
      labels: fc.option(fc.dictionary(fc.string(), fc.string()), { nil: undefined }),
      secretsChanged: fc.array(fc.constantFrom('clientSecret', 'refreshToken'), { maxLength: 2 }),
    })
    .map(
      ({ name, labels, secretsChanged }) =>
        (at: number) =>
          newEvent('credential.updated', at, {
            ...(name !== undefined ? { name } : {}),
            ...(labels !== undefined ? { labels } : {}),
            secretsChanged,
          }),
    ),
  fc
    .record({
      tokenVersion: fc.integer({ min: 1, max: 1_000 }),
      lifetime: fc.integer({ min: 1_000, max: 2 * HOUR }),
      scope: fc.option(fc.constantFrom('read', 'read write'), { nil: undefined }),
      trigger: arbTrigger,
    })
    .map(
      ({ tokenVersion, lifetime, scope, trigger }) =>
        (at: number) =>
          newEvent('token.updated', at, {
            tokenVersion,
            issuedAt: at,
            expiresAt: at + lifetime,
            refreshAt: at + Math.floor(lifetime / 2),
            tokenType: 'Bearer',
            ...(scope !== undefined ? { scope } : {}),
            refreshTokenRotated: false,
            trigger,
            lifetimeSource: 'expires_in',
          }),
    ),
  fc
    .record({
      attempt: fc.integer({ min: 1, max: 50 }),
      class: arbFailureClass,
      status: fc.option(fc.constantFrom(400, 429, 500, 503), { nil: undefined }),
      nextIn: fc.option(fc.integer({ min: 1, max: 300_000 }), { nil: undefined }),
      trigger: arbTrigger,
    })
    .map(
      ({ attempt, class: failureClass, status, nextIn, trigger }) =>
        (at: number) =>
          newEvent('refresh.failed', at, {
            attempt,
            class: failureClass,
            code: failureClass === 'permanent' ? 'INVALID_GRANT' : 'PROVIDER_UNAVAILABLE',
            message: 'failed',
            ...(status !== undefined ? { status } : {}),
            ...(nextIn !== undefined ? { nextAttemptAt: at + nextIn } : {}),
            trigger,
          }),
    ),
  fc.constant((at: number) => reauthRequired(at)),
  fc.constant((at: number) => newEvent('credential.expired', at, { expiredAt: at })),
  fc.constant((at: number) => newEvent('credential.recovered', at, { afterAttempts: 2, downtimeMs: 1_000 })),
  fc.constant((at: number) => newEvent('credential.revoked', at, { reason: 'deleted' })),
);

/** A valid history: a registration, then up to 40 events, each at or after the one before; nothing follows a revocation. */
const arbHistory: fc.Arbitrary<CredentialEvent[]> = fc
  .tuple(
    fc.integer({ min: 0, max: 4_000_000_000_000 }),
    fc.array(fc.tuple(fc.integer({ min: 0, max: HOUR }), arbLaterEvent), { maxLength: 40 }),
  )
  .map(([start, later]) => {
    let at = start;
    const events: NewEvent[] = [registered(start)];
    for (const [gap, make] of later) {
      at += gap;
      const event = make(at);
      events.push(event);
      if (event.type === 'credential.revoked') break;
    }
    return stream(events);
  });

describe('applyEvent: credential.registered', () => {
  it('creates a pending credential at revision 1', () => {
    expect(fold(registered())).toEqual({
      id: ID,
      namespace: 'payments',
      kind: 'oauth2.refresh_token',
      name: 'stripe-connect',
      labels: { team: 'billing' },
      state: 'pending',
      revision: 1,
      grant: {
        tokenEndpoint: 'https://auth.example.com/oauth/token',
        clientId: 'client-1',
        clientAuth: 'client_secret_basic',
      },
      policy: { minBufferSeconds: 120 },
      failures: 0,
      createdAt: T0,
      updatedAt: T0,
    });
  });

  it('copies labels, grant and policy instead of sharing them with the event', () => {
    const [event] = stream([registered()]);
    const state = applyEvent(undefined, event!);
    if (event?.type !== 'credential.registered') throw new Error('unexpected event');
    event.data.labels.team = 'changed';
    event.data.grant.clientId = 'changed';
    event.data.policy.minBufferSeconds = 1;
    expect(state.labels).toEqual({ team: 'billing' });
    expect(state.grant.clientId).toBe('client-1');
    expect(state.policy).toEqual({ minBufferSeconds: 120 });
  });
});

describe('applyEvent: token.updated', () => {
  it('makes a pending credential active and records the token facts', () => {
    const state = fold(registered(), tokenUpdated(T0 + 1_000, { scope: 'read write', tokenVersion: 1 }));
    expect(state.state).toBe('active');
    expect(state.revision).toBe(2);
    expect(state.token).toEqual(heldToken(T0 + 1_000, { scope: 'read write' }));
    expect(state.lastRefreshAt).toBe(T0 + 1_000);
    expect(state.updatedAt).toBe(T0 + 1_000);
    expect(state.createdAt).toBe(T0);
  });

  it('leaves scope out when the token has none, and keeps no event-only fields', () => {
    const state = fold(registered(), tokenUpdated(T0 + 1_000));
    expect(state.token).not.toHaveProperty('scope');
    expect(state.token).not.toHaveProperty('refreshTokenRotated');
    expect(state.token).not.toHaveProperty('trigger');
    expect(state.token).not.toHaveProperty('lifetimeSource');
  });

  it('resets failures and clears the last failure', () => {
    const state = fold(
      registered(),
      tokenUpdated(T0 + 1_000),
      refreshFailed(T0 + 2_000, 1),
      refreshFailed(T0 + 3_000, 2),
      tokenUpdated(T0 + 4_000, { tokenVersion: 2 }),
    );
    expect(state.failures).toBe(0);
    expect(state).not.toHaveProperty('lastFailure');
    expect(state.token?.tokenVersion).toBe(2);
    expect(state.state).toBe('active');
  });

  it('replaces the previous token', () => {
    const state = fold(
      registered(),
      tokenUpdated(T0 + 1_000, { scope: 'read' }),
      tokenUpdated(T0 + 2_000, { tokenVersion: 2 }),
    );
    expect(state.token).toEqual(heldToken(T0 + 2_000, { tokenVersion: 2 }));
  });
});

describe('applyEvent: refresh.failed', () => {
  it('counts consecutive failures and records the last one', () => {
    const state = fold(
      registered(),
      tokenUpdated(T0 + 1_000),
      refreshFailed(T0 + 2_000, 1),
      refreshFailed(T0 + 3_000, 2, { status: 503, nextAttemptAt: T0 + 5_000 }),
    );
    expect(state.failures).toBe(2);
    expect(state.lastFailure).toEqual({
      at: T0 + 3_000,
      attempt: 2,
      class: 'transient',
      code: 'PROVIDER_UNAVAILABLE',
      message: 'provider answered 503',
      status: 503,
      nextAttemptAt: T0 + 5_000,
    });
    expect(state.state).toBe('active');
    expect(state.token?.tokenVersion).toBe(1);
  });

  it('leaves out status and nextAttemptAt when the event has none, and drops the trigger', () => {
    const state = fold(registered(), refreshFailed(T0 + 1_000, 1));
    expect(state.lastFailure).toEqual({
      at: T0 + 1_000,
      attempt: 1,
      class: 'transient',
      code: 'PROVIDER_UNAVAILABLE',
      message: 'provider answered 503',
    });
  });

  it('keeps a pending credential pending', () => {
    expect(fold(registered(), refreshFailed(T0 + 1_000, 1)).state).toBe('pending');
  });

  it('does not by itself stop refreshing on a permanent failure', () => {
    const state = fold(
      registered(),
      refreshFailed(T0 + 1_000, 1, {
        class: 'permanent',
        code: 'INVALID_GRANT',
        message: 'invalid_grant',
        status: 400,
      }),
    );
    expect(state.state).toBe('pending');
    expect(state.lastFailure?.class).toBe('permanent');
  });
});

describe('applyEvent: re-authentication', () => {
  const needingReauth = (withToken: boolean) => [
    registered(),
    ...(withToken ? [tokenUpdated(T0 + 1_000)] : []),
    refreshFailed(T0 + 2_000, 1, { class: 'permanent', code: 'INVALID_GRANT', message: 'invalid_grant' }),
    reauthRequired(T0 + 2_000),
  ];

  it('moves to reauth_required', () => {
    const state = fold(...needingReauth(true));
    expect(state.state).toBe('reauth_required');
    expect(state.failures).toBe(1);
    expect(state.lastFailure?.code).toBe('INVALID_GRANT');
  });

  it('re-activates on new secrets while the held token is still valid', () => {
    const state = fold(...needingReauth(true), secretsUpdated(T0 + 10 * MINUTE));
    expect(state.state).toBe('active');
    expect(state.failures).toBe(0);
    expect(state).not.toHaveProperty('lastFailure');
    expect(state.token?.tokenVersion).toBe(1);
  });

  it('goes back to pending on new secrets once the held token has expired', () => {
    const state = fold(...needingReauth(true), secretsUpdated(T0 + 2 * HOUR));
    expect(state.state).toBe('pending');
    expect(state.failures).toBe(0);
    expect(state).not.toHaveProperty('lastFailure');
  });

  it('treats a token expiring at the very instant of the update as expired', () => {
    const state = fold(...needingReauth(true), secretsUpdated(T0 + 1_000 + HOUR));
    expect(state.state).toBe('pending');
  });

  it('goes back to pending on new secrets when no token was ever issued', () => {
    expect(fold(...needingReauth(false), secretsUpdated(T0 + MINUTE)).state).toBe('pending');
  });

  it('stays in reauth_required when an update changes no secret', () => {
    const state = fold(
      ...needingReauth(true),
      newEvent('credential.updated', T0 + MINUTE, { name: 'renamed', secretsChanged: [] }),
    );
    expect(state.state).toBe('reauth_required');
    expect(state.failures).toBe(1);
    expect(state.name).toBe('renamed');
  });

  it('does not touch the state or failures of an active credential when secrets change', () => {
    const state = fold(
      registered(),
      tokenUpdated(T0 + 1_000),
      refreshFailed(T0 + 2_000, 1),
      secretsUpdated(T0 + 3_000),
    );
    expect(state.state).toBe('active');
    expect(state.failures).toBe(1);
    expect(state.lastFailure?.attempt).toBe(1);
  });
});

describe('applyEvent: credential.updated', () => {
  it('replaces the settings given and keeps the others', () => {
    const state = fold(
      registered(),
      newEvent('credential.updated', T0 + 1_000, {
        labels: { team: 'payments', env: 'prod' },
        policy: { fraction: 0.5 },
        secretsChanged: [],
      }),
    );
    expect(state.name).toBe('stripe-connect');
    expect(state.labels).toEqual({ team: 'payments', env: 'prod' });
    expect(state.policy).toEqual({ fraction: 0.5 });
    expect(state.grant.clientId).toBe('client-1');
    expect(state.updatedAt).toBe(T0 + 1_000);
    expect(state.state).toBe('pending');
  });

  it('replaces the grant settings and name', () => {
    const grant = {
      tokenEndpoint: 'https://idp.example.org/token',
      clientAuth: 'none' as const,
      scope: 'openid',
    };
    const state = fold(
      registered(),
      newEvent('credential.updated', T0 + 1_000, { name: 'n2', grant, secretsChanged: [] }),
    );
    expect(state.grant).toEqual(grant);
    expect(state.name).toBe('n2');
  });
});

describe('applyEvent: expiry, recovery and revocation', () => {
  it('marks an outage as expired and recovers after a new token', () => {
    const outage = [
      registered(),
      tokenUpdated(T0),
      refreshFailed(T0 + 50 * MINUTE, 1),
      refreshFailed(T0 + 55 * MINUTE, 2),
      newEvent('credential.expired', T0 + HOUR, { expiredAt: T0 + HOUR }),
    ];
    const expired = fold(...outage);
    expect(expired.state).toBe('expired');
    expect(expired.failures).toBe(2);

    const recovered = fold(
      ...outage,
      tokenUpdated(T0 + HOUR + 5 * MINUTE, { tokenVersion: 2 }),
      newEvent('credential.recovered', T0 + HOUR + 5 * MINUTE, { afterAttempts: 3, downtimeMs: 5 * MINUTE }),
    );
    expect(recovered.state).toBe('active');
    expect(recovered.failures).toBe(0);
    expect(recovered.token?.tokenVersion).toBe(2);
    expect(recovered.revision).toBe(7);
  });

  it('refuses any event after credential.revoked', () => {
    const events = stream([
      registered(),
      newEvent('credential.revoked', T0 + MINUTE, {}),
      newEvent('credential.updated', T0 + 2 * MINUTE, { name: 'again', secretsChanged: [] }),
    ]);
    expect(() => foldEvents(events)).toThrow(EventFoldError);
  });

  it('marks a revoked credential as revoked and keeps its history facts', () => {
    const state = fold(
      registered(),
      tokenUpdated(T0),
      newEvent('credential.revoked', T0 + MINUTE, { reason: 'deleted by admin' }),
    );
    expect(state.state).toBe('revoked');
    expect(state.token?.tokenVersion).toBe(1);
    expect(state.revision).toBe(3);
    expect(state.updatedAt).toBe(T0 + MINUTE);
  });
});

describe('applyEvent: invalid histories', () => {
  it('rejects an event before credential.registered', () => {
    const [event] = stream([tokenUpdated(T0)]);
    expect(() => applyEvent(undefined, event!)).toThrow(EventFoldError);
    expect(() => applyEvent(undefined, event!)).toThrow(/before credential\.registered/);
  });

  it('rejects a second registration', () => {
    expect(() => fold(registered(), registered(T0 + 1))).toThrow(/registered twice/);
  });

  it('rejects a registration that does not start the stream at revision 1', () => {
    const event = { ...registered(), credentialId: ID, revision: 3 } as CredentialEvent;
    expect(() => applyEvent(undefined, event)).toThrow(EventFoldError);
  });

  it.each([
    ['skips a revision', 4],
    ['repeats a revision', 2],
    ['goes back', 1],
  ])('rejects an event that %s', (_label, revision) => {
    const state = fold(registered(), tokenUpdated(T0 + 1));
    const event = { ...refreshFailed(T0 + 2, 1), credentialId: ID, revision } as CredentialEvent;
    expect(() => applyEvent(state, event)).toThrow(EventFoldError);
  });

  it('raises an error with a stable code', () => {
    try {
      fold(registered(), registered());
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(TokenkeeperError);
      expect(error).toMatchObject({ code: 'EVENT_FOLD_ERROR', name: 'EventFoldError' });
    }
  });
});

describe('foldEvents', () => {
  it('returns undefined for an empty history', () => {
    expect(foldEvents([])).toBeUndefined();
  });

  it('never mutates the previous state or the events', () => {
    const events = deepFreeze(
      stream([
        registered(),
        tokenUpdated(T0 + 1),
        refreshFailed(T0 + 2, 1),
        reauthRequired(T0 + 3),
        secretsUpdated(T0 + 4),
        tokenUpdated(T0 + 5),
      ]),
    );
    let state: CredentialProjection | undefined;
    for (const event of events) state = deepFreeze(applyEvent(state, event));
    expect(state?.state).toBe('active');
  });
});

describe('foldEvents over generated histories', () => {
  it('ends at revision = number of events, with timestamps from the first and last event', () => {
    fc.assert(
      fc.property(arbHistory, (history) => {
        const state = foldEvents(history);
        expect(state?.revision).toBe(history.length);
        expect(state?.id).toBe(ID);
        expect(state?.createdAt).toBe(history[0]!.at);
        expect(state?.updatedAt).toBe(history.at(-1)!.at);
      }),
    );
  });

  it('agrees with a simple model of state, failures and token', () => {
    fc.assert(
      fc.property(arbHistory, (history) => {
        const state = foldEvents(deepFreeze(history))!;
        const model = modelOf(history);
        expect(CREDENTIAL_STATES).toContain(state.state);
        expect(state.state).toBe(model.state);
        expect(state.failures).toBe(model.failures);
        expect(state.token?.tokenVersion).toBe(model.tokenVersion);
        expect(state.lastFailure === undefined).toBe(model.lastFailureCleared);
      }),
    );
  });

  it('is the same whether folded at once or event by event from stored projections', () => {
    fc.assert(
      fc.property(arbHistory, fc.nat(), (history, cut) => {
        const at = cut % history.length;
        const prefix = structuredClone(foldEvents(history.slice(0, at + 1)));
        const resumed = history.slice(at + 1).reduce(applyEvent, prefix!);
        expect(resumed).toEqual(foldEvents(history));
      }),
    );
  });

  it('rejects any history whose revisions are not 1, 2, 3, …', () => {
    fc.assert(
      fc.property(
        arbHistory,
        fc.nat(),
        fc.integer({ min: -3, max: 3 }).filter((d) => d !== 0),
        (history, pick, delta) => {
          const index = pick % history.length;
          const corrupted = history.map((event, i) =>
            i === index ? { ...event, revision: event.revision + delta } : event,
          ) as CredentialEvent[];
          expect(() => foldEvents(corrupted)).toThrow(EventFoldError);
        },
      ),
    );
  });
});

/** An independent reading of the documented state machine, kept deliberately naive. */
function modelOf(history: readonly CredentialEvent[]) {
  let state: CredentialState = 'pending';
  let failures = 0;
  let lastFailureCleared = true;
  let tokenVersion: number | undefined;
  let tokenExpiresAt: number | undefined;
  for (const event of history.slice(1)) {
    switch (event.type) {
      case 'credential.updated':
        if (event.data.secretsChanged.length > 0 && state === 'reauth_required') {
          state = tokenExpiresAt !== undefined && tokenExpiresAt > event.at ? 'active' : 'pending';
          failures = 0;
          lastFailureCleared = true;
        }
        break;
      case 'token.updated':
        state = 'active';
        failures = 0;
        lastFailureCleared = true;
        tokenVersion = event.data.tokenVersion;
        tokenExpiresAt = event.data.expiresAt;
        break;
      case 'refresh.failed':
        failures = event.data.attempt;
        lastFailureCleared = false;
        break;
      case 'credential.reauth_required':
        state = 'reauth_required';
        break;
      case 'credential.expired':
        state = 'expired';
        break;
      case 'credential.recovered':
        state = 'active';
        break;
      case 'credential.revoked':
        state = 'revoked';
        break;
      case 'credential.registered':
        throw new Error('registration in the middle of a generated history');
    }
  }
  return { state, failures, lastFailureCleared, tokenVersion };
}
