import { type CredentialProjection, resolveRotation } from '#core';
import { isoTime as iso } from '../http/views.js';

/** A credential's status as the API shows it. Built from the projection, which holds no secret. */
export function credentialView(p: CredentialProjection) {
  return {
    id: p.id,
    name: p.name,
    kind: p.kind,
    namespace: p.namespace,
    labels: p.labels,
    state: p.state,
    revision: p.revision,
    tokenVersion: p.token?.tokenVersion ?? 0,
    issuedAt: iso(p.token?.issuedAt),
    expiresAt: iso(p.token?.expiresAt),
    refreshAt: iso(p.token?.refreshAt),
    lastRefreshAt: iso(p.lastRefreshAt),
    failures: p.failures,
    lastFailure: p.lastFailure && {
      ...p.lastFailure,
      at: iso(p.lastFailure.at),
      nextAttemptAt: iso(p.lastFailure.nextAttemptAt),
    },
    grant: p.grant,
    policy: p.policy,
    // As registered, plus what a refresh assumes (the provider's or the kind's defaults).
    rotation: { ...p.rotation, ...resolveRotation(p.kind, p.rotation) },
    createdAt: iso(p.createdAt),
    updatedAt: iso(p.updatedAt),
  };
}

/** An event as the API shows it; shared with the event stream and webhooks. */
export { eventView } from '#events';
