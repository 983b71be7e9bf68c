import { type EventPayloads, type NewEvent, newEvent } from '#core';

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
