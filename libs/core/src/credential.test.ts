import { describe, expect, it } from 'vitest';
import { CREDENTIAL_KINDS, CREDENTIAL_STATES, isRefreshing, OAUTH_KINDS } from './credential.js';

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
  it('lists each kind once, the OAuth ones first', () => {
    expect(new Set(CREDENTIAL_KINDS).size).toBe(CREDENTIAL_KINDS.length);
    expect(new Set(CREDENTIAL_KINDS.slice(0, OAUTH_KINDS.size))).toEqual(OAUTH_KINDS);
    for (const kind of CREDENTIAL_KINDS) expect(kind).toMatch(/^[a-z0-9]+(\.[a-z0-9_]+)?$/);
  });
});
