import { createHash, randomBytes } from 'node:crypto';

/** What an API key may do. `admin` implies every other scope in its namespace and managing keys. */
export const API_KEY_SCOPES = [
  'admin',
  'credentials:read',
  'credentials:write',
  'token:read',
  'events:read',
  'subscriptions:write',
  'metrics:read',
] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/** The namespace of the bootstrap admin; its admins manage keys of every namespace (the operator). */
export const OPERATOR_NAMESPACE = 'default';

export const API_KEY_PREFIX = 'tk_';

/** A new secret key: 256 random bits, base64url, recognisable by its prefix (for secret scanners). */
export function generateApiKey(): string {
  return `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
}

export function generateKeyId(): string {
  return `key_${randomBytes(12).toString('base64url')}`;
}

/**
 * What is stored instead of the key. A plain SHA-256 is enough: the key has 256 bits of entropy,
 * so there is nothing to brute-force, and it keeps the per-request check to one hash.
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function hasScope(scopes: readonly string[], required: string): boolean {
  return scopes.includes('admin') || scopes.includes(required);
}
