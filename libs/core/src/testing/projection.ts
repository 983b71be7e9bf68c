import type { CredentialProjection } from '../credential.js';

/**
 * A stored projection for tests: an active credential of `kind` holding a Bearer token issued at 0
 * that is due for refresh at 70 s and expires at 100 s, with nothing failed; `over` replaces fields.
 */
export function testProjection(
  over: Partial<CredentialProjection> & Pick<CredentialProjection, 'kind'>,
): CredentialProjection {
  return {
    id: `cred_${over.kind.replace(/[^a-z]/g, '')}00001`,
    namespace: 'default',
    name: over.kind,
    labels: {},
    state: 'active',
    revision: 2,
    grant: { clientAuth: 'none' },
    policy: {},
    token: { tokenVersion: 1, issuedAt: 0, expiresAt: 100_000, refreshAt: 70_000, tokenType: 'Bearer' },
    failures: 0,
    createdAt: 0,
    updatedAt: 0,
    ...over,
  };
}
