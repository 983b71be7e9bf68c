import { describe, expect, it } from 'vitest';
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
