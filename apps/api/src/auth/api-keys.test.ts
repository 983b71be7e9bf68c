import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bearerOf } from './api-auth.guard.js';
import {
  apiKeyLookupId,
  apiKeyRecordMac,
  apiKeyRecordMacValid,
  generateApiKey,
  hashApiKey,
  hasScope,
} from './api-keys.js';

describe('API keys', () => {
  it('are tk_ plus 256 random bits; stored under an HMAC of their SHA-256, not the SHA-256', () => {
    const a = generateApiKey();
    expect(a).toMatch(/^tk_[A-Za-z0-9_-]{43}$/);
    expect(generateApiKey()).not.toBe(a);
    expect(hashApiKey(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashApiKey(a)).not.toContain(a.slice(3));
    const k1 = randomBytes(32);
    const id = apiKeyLookupId(k1, hashApiKey(a));
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(id).not.toBe(hashApiKey(a));
    expect(apiKeyLookupId(k1, hashApiKey(a))).toBe(id);
    expect(apiKeyLookupId(randomBytes(32), hashApiKey(a))).not.toBe(id);
  });

  it('authenticate every field of a record that decides what its key may do', () => {
    const key = randomBytes(32);
    const record = {
      keyHash: 'a'.repeat(64),
      id: 'key_abcdefgh',
      name: 'ci',
      namespace: 'team-a',
      scopes: ['token:read'],
      createdAt: 1_700_000_000_000,
    };
    const mac = apiKeyRecordMac(key, record);
    expect(apiKeyRecordMacValid(key, record, mac)).toBe(true);
    for (const edited of [
      { ...record, scopes: ['admin'] },
      { ...record, scopes: ['token:read', 'credentials:write'] },
      { ...record, namespace: 'default' },
      { ...record, keyHash: 'b'.repeat(64) },
      { ...record, id: 'key_other000' },
      { ...record, revokedAt: 1 },
    ]) {
      expect(apiKeyRecordMacValid(key, edited, mac), JSON.stringify(edited)).toBe(false);
    }
    // A revoked record whose revocation date is removed no longer verifies either.
    const revoked = { ...record, revokedAt: 1_700_000_001_000 };
    expect(apiKeyRecordMacValid(key, record, apiKeyRecordMac(key, revoked))).toBe(false);
    expect(apiKeyRecordMacValid(randomBytes(32), record, mac)).toBe(false);
    expect(apiKeyRecordMacValid(key, record, 'short')).toBe(false);
  });

  it('admin implies every scope', () => {
    expect(hasScope(['admin'], 'token:read')).toBe(true);
    expect(hasScope(['token:read'], 'token:read')).toBe(true);
    expect(hasScope(['token:read'], 'credentials:write')).toBe(false);
    expect(hasScope(['credentials:write'], 'admin')).toBe(false);
  });

  it('reads only well-formed bearer headers', () => {
    expect(bearerOf('Bearer tk_abc')).toBe('tk_abc');
    expect(bearerOf('bearer   tk_abc ')).toBe('tk_abc');
    expect(bearerOf('Basic dXNlcjpwYXNz')).toBeUndefined();
    expect(bearerOf('Bearer a b')).toBeUndefined();
    expect(bearerOf(undefined)).toBeUndefined();
  });
});
