import type { StoredEvent } from '#store';

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/**
 * An event as the API, the event stream and webhooks show it: times as ISO strings, same fields
 * otherwise. Events never hold a secret, so neither does this.
 */
export function eventView(e: StoredEvent) {
  const data: Record<string, unknown> = { ...e.data };
  for (const key of ['issuedAt', 'expiresAt', 'refreshAt', 'nextAttemptAt', 'expiredAt']) {
    if (typeof data[key] === 'number') data[key] = iso(data[key] as number);
  }
  return {
    type: e.type,
    credentialId: e.credentialId,
    revision: e.revision,
    at: iso(e.at),
    namespace: e.namespace,
    data,
  };
}
export type EventView = ReturnType<typeof eventView>;
