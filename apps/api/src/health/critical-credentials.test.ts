import { describe, expect, it } from 'vitest';
import type { CredentialProjection } from '#core';
import { testProjection } from '../../../../libs/core/src/testing/projection.js';
import { criticalCredentialStatus } from './critical-credentials.js';

const p = (over: Partial<CredentialProjection>): CredentialProjection =>
  testProjection({
    kind: 'vault.jwt_login',
    token: { tokenVersion: 2, issuedAt: 0, expiresAt: 10_000, refreshAt: 6_000, tokenType: 'Vault' },
    ...over,
  });

describe('criticalCredentialStatus', () => {
  it('is ready only with a token valid now and a state that is not reauth_required or expired', () => {
    expect(criticalCredentialStatus('c', p({}), 5_000).ready).toBe(true);
    expect(criticalCredentialStatus('c', p({}), 10_000)).toMatchObject({
      ready: false,
      reason: 'TOKEN_EXPIRED',
    });
    expect(criticalCredentialStatus('c', p({ state: 'reauth_required' }), 5_000)).toMatchObject({
      ready: false,
    });
    expect(criticalCredentialStatus('c', p({ state: 'expired' }), 5_000)).toMatchObject({ ready: false });
    expect(criticalCredentialStatus('c', undefined, 5_000)).toMatchObject({ ready: false, state: 'missing' });
  });

  it('reports a credential that never logged in with its last failure code', () => {
    const { token: _t, ...pending } = p({ state: 'pending' });
    const status = criticalCredentialStatus(
      'c',
      {
        ...pending,
        failures: 3,
        lastFailure: { at: 1, attempt: 3, class: 'transient', code: 'VAULT_LOGIN_REFUSED', message: 'x' },
      },
      5_000,
    );
    expect(status).toMatchObject({ ready: false, state: 'pending', reason: 'VAULT_LOGIN_REFUSED' });
  });
});
