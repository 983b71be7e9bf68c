import { describe, expect, it } from 'vitest';
import { CREDENTIAL_KINDS } from '#kinds';
import { CREDENTIAL_STATES, isRefreshing } from './credential.js';

describe('isRefreshing', () => {
  it.each([
    ['pending', true],
    ['active', true],
    ['expired', true],
    ['reauth_required', false],
    ['revoked', false],
  ] as const)('is %s → %s', (state, expected) => {
    expect(isRefreshing(state)).toBe(expected);
  });

  it('covers every credential state', () => {
    expect([...CREDENTIAL_STATES].sort()).toEqual([
      'active',
      'expired',
      'pending',
      'reauth_required',
      'revoked',
    ]);
  });
});

describe('CREDENTIAL_KINDS', () => {
  it('lists every kind of the product spec, the OAuth ones first', () => {
    expect(CREDENTIAL_KINDS).toEqual([
      'oauth2.refresh_token',
      'oauth2.client_credentials',
      'oauth2.jwt_bearer',
      'oauth2.token_exchange',
      'jwt.mint',
      'vault.jwt_login',
      'static',
    ]);
  });
});
