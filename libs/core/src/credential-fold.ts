import type { CredentialProjection, CredentialState } from './credential.js';
import { boundText } from './error-classification.js';
import { EventFoldError } from './errors.js';
import type { CredentialEvent } from './events.js';

/**
 * Applies one event to a credential's state. Pure and total over valid histories: the store
 * persists `applyEvent(previous, event)` as the projection, atomically with the event itself.
 */
export function applyEvent(
  state: CredentialProjection | undefined,
  event: CredentialEvent,
): CredentialProjection {
  if (event.type === 'credential.registered') {
    if (state) throw new EventFoldError(`credential ${event.credentialId} registered twice`);
    // A stream starts at revision 1, so the projection's revision counts the events folded.
    if (event.revision !== 1) {
      throw new EventFoldError(`credential ${event.credentialId} registered at revision ${event.revision}`);
    }
    const d = event.data;
    return {
      id: event.credentialId,
      namespace: d.namespace,
      kind: d.kind,
      name: d.name,
      labels: { ...d.labels },
      state: 'pending',
      revision: event.revision,
      grant: { ...d.grant },
      policy: { ...d.policy },
      ...(d.rotation !== undefined ? { rotation: { ...d.rotation } } : {}),
      failures: 0,
      createdAt: event.at,
      updatedAt: event.at,
    };
  }
  if (!state) throw new EventFoldError(`event ${event.type} before credential.registered`);
  if (event.revision !== state.revision + 1) {
    throw new EventFoldError(`revision ${event.revision} after ${state.revision} for ${state.id}`);
  }
  if (state.state === 'revoked') throw new EventFoldError(`event ${event.type} after credential.revoked`);
  const next: CredentialProjection = { ...state, revision: event.revision, updatedAt: event.at };
  switch (event.type) {
    case 'credential.updated': {
      const d = event.data;
      if (d.name !== undefined) next.name = d.name;
      if (d.labels !== undefined) next.labels = { ...d.labels };
      if (d.grant !== undefined) next.grant = { ...d.grant };
      if (d.policy !== undefined) next.policy = { ...d.policy };
      if (d.rotation !== undefined) next.rotation = { ...d.rotation };
      // New secrets give a credential that needed re-authentication another chance.
      if (d.secretsChanged.length > 0 && state.state === 'reauth_required') {
        next.state = state.token && state.token.expiresAt > event.at ? 'active' : 'pending';
        next.failures = 0;
        delete next.lastFailure;
      }
      return next;
    }
    case 'token.updated': {
      const d = event.data;
      next.token = {
        tokenVersion: d.tokenVersion,
        issuedAt: d.issuedAt,
        expiresAt: d.expiresAt,
        refreshAt: d.refreshAt,
        tokenType: d.tokenType,
        ...(d.scope !== undefined ? { scope: d.scope } : {}),
      };
      next.state = 'active';
      next.failures = 0;
      next.lastRefreshAt = event.at;
      delete next.lastFailure;
      return next;
    }
    case 'refresh.failed': {
      const d = event.data;
      next.failures = d.attempt;
      next.lastFailure = {
        at: event.at,
        attempt: d.attempt,
        class: d.class,
        // Bounded again: events recorded before messages were bounded may still hold long text.
        code: boundText(d.code),
        message: boundText(d.message),
        ...(d.status !== undefined ? { status: d.status } : {}),
        ...(d.nextAttemptAt !== undefined ? { nextAttemptAt: d.nextAttemptAt } : {}),
        ...(d.outcome !== undefined ? { outcome: d.outcome } : {}),
      };
      return next;
    }
    default:
      next.state = STATE_AFTER[event.type];
      return next;
  }
}

/**
 * The state each remaining event leaves a credential in. Recovery is recorded right after the
 * token.updated that ended the outage.
 */
const STATE_AFTER: Record<
  Exclude<
    CredentialEvent['type'],
    'credential.registered' | 'credential.updated' | 'token.updated' | 'refresh.failed'
  >,
  CredentialState
> = {
  'credential.reauth_required': 'reauth_required',
  'credential.expired': 'expired',
  'credential.recovered': 'active',
  'credential.revoked': 'revoked',
};

/** Folds a whole history, oldest first. */
export function foldEvents(events: readonly CredentialEvent[]): CredentialProjection | undefined {
  let state: CredentialProjection | undefined;
  for (const event of events) state = applyEvent(state, event);
  return state;
}
