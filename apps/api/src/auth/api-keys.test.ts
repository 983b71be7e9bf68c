import { describe, expect, it } from 'vitest';
import { bearerOf } from './api-auth.guard.js';
import { generateApiKey, hashApiKey, hasScope } from './api-keys.js';

describe('API keys', () => {
  it('are tk_ plus 256 random bits, and stored as SHA-256', () => {
    const a = generateApiKey();
    expect(a).toMatch(/^tk_[A-Za-z0-9_-]{43}$/);
    expect(generateApiKey()).not.toBe(a);
    expect(hashApiKey(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashApiKey(a)).not.toContain(a.slice(3));
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
