/** Grant requests as the refresh path builds them, and how a grant's failure is classified. */
import { expect } from 'vitest';
import { type ClassifiedFailure, classifyGrantFailure } from '#core';
import { GrantError, type GrantRequest } from '#grants';

/** A request for a test credential in namespace `default`, with no secrets unless `request` has some. */
export const grantRequest = (
  request: Pick<GrantRequest, 'kind' | 'grant'> & Partial<GrantRequest>,
): GrantRequest => ({
  secrets: {},
  timeoutMs: 3000,
  credentialId: 'cred_granttest00001',
  namespace: 'default',
  ...request,
});

/** How the failure a grant rejected with is classified (the test fails unless it rejected with a GrantError). */
export async function grantFailureOf(grant: Promise<unknown>): Promise<ClassifiedFailure> {
  const err = await grant.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GrantError);
  return classifyGrantFailure((err as GrantError).failure);
}
