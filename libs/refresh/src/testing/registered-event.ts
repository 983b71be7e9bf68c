import { type EventPayloads, type NewEvent, newEvent } from '#core';
import type { RefreshJobData } from '#queues';

type Registration = EventPayloads['credential.registered'];

/**
 * A `credential.registered` event for tests: a client-credentials credential in `default` at
 * https://idp.example/token unless `overrides` says otherwise.
 */
export function registeredEvent(
  name: string,
  overrides: Partial<Registration> = {},
  at: number = Date.now(),
): NewEvent {
  return newEvent('credential.registered', at, {
    namespace: 'default',
    kind: 'oauth2.client_credentials',
    name,
    labels: {},
    grant: { tokenEndpoint: 'https://idp.example/token', clientAuth: 'client_secret_basic' },
    policy: {},
    ...overrides,
  });
}

/** The refresh job a registration plans: the first token (version 0), due at once. */
export function registrationJob(credentialId: string, at: number): RefreshJobData {
  return { credentialId, tokenVersion: 0, attempt: 0, trigger: 'registration', dueAt: at, demand: false };
}
