import type { CredentialProjection } from '../credential.js';

/** A stored projection for tests: an active credential of `kind` with nothing failed; `over` replaces fields. */
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
    failures: 0,
    createdAt: 0,
    updatedAt: 0,
    ...over,
  };
}
