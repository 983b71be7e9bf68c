import type { CredentialProjection } from '#core';

/**
 * Whether a credential can be seen from `namespace`: it exists, lives in that namespace and (unless
 * `includeRevoked`, for its history) has not been deleted. A credential in another namespace looks
 * exactly like one that does not exist; every namespace check of the use cases goes through here.
 */
export function visibleIn<P extends CredentialProjection>(
  p: P | undefined,
  namespace: string,
  opts: { includeRevoked?: boolean } = {},
): p is P {
  return (
    p !== undefined && p.namespace === namespace && (opts.includeRevoked === true || p.state !== 'revoked')
  );
}
