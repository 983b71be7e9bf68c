import type { CredentialProjection } from '#core';

export interface CriticalCredentialStatus {
  id: string;
  ready: boolean;
  state: CredentialProjection['state'] | 'missing';
  /** Why it is not ready; absent when it is. */
  reason?: string;
  expiresAt?: string;
}

/**
 * Whether a credential the operator marked critical can serve: it exists, does not need
 * re-authentication, has not expired, and holds a token that is still valid right now. A
 * credential that never managed to log in (still `pending`) is not ready either.
 */
export function criticalCredentialStatus(
  id: string,
  p: CredentialProjection | undefined,
  now: number,
): CriticalCredentialStatus {
  if (!p || p.state === 'revoked')
    return { id, ready: false, state: 'missing', reason: 'no such credential' };
  const expiresAt = p.token ? new Date(p.token.expiresAt).toISOString() : undefined;
  const base = { id, state: p.state, ...(expiresAt ? { expiresAt } : {}) };
  if (p.state === 'reauth_required' || p.state === 'expired') {
    return { ...base, ready: false, reason: p.lastFailure?.code ?? p.state.toUpperCase() };
  }
  if (!p.token) return { ...base, ready: false, reason: p.lastFailure?.code ?? 'NO_TOKEN_YET' };
  if (p.token.expiresAt <= now) return { ...base, ready: false, reason: 'TOKEN_EXPIRED' };
  return { ...base, ready: true };
}
