import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

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
 * SHA-256 of a presented key (hex): compared in constant time with the bootstrap key's, and the
 * input of the stored lookup id. Never stored by itself (records of releases before the HMAC were).
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * The id a key's record is stored under: HMAC-SHA256 under the server's lookup key of the key's
 * SHA-256. Over the hash rather than the key, so a legacy record (stored under the plain SHA-256)
 * can be converted without the key; without the server key nobody can compute the id of a key,
 * so nobody who only writes Redis can plant a record a key of theirs would find.
 */
export function apiKeyLookupId(lookupKey: Buffer, sha256Hex: string): string {
  return createHmac('sha256', lookupKey).update(Buffer.from(sha256Hex, 'hex')).digest('hex');
}

/** What a record's MAC covers: every field that decides what the key may do, and where it is stored. */
export interface MacFields {
  keyHash: string;
  id: string;
  name: string;
  namespace: string;
  scopes: readonly string[];
  createdAt: number;
  revokedAt?: number | undefined;
}

const MAC_CONTEXT = 'tokenkeeper.api-key-record.v2';

export function apiKeyRecordMac(recordKey: Buffer, r: MacFields): string {
  const fields = [
    MAC_CONTEXT,
    r.keyHash,
    r.id,
    r.name,
    r.namespace,
    r.scopes,
    r.createdAt,
    r.revokedAt ?? null,
  ];
  return createHmac('sha256', recordKey).update(JSON.stringify(fields)).digest('base64url');
}

export function apiKeyRecordMacValid(recordKey: Buffer, r: MacFields, mac: string): boolean {
  const expected = Buffer.from(apiKeyRecordMac(recordKey, r));
  const given = Buffer.from(mac);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function hasScope(scopes: readonly string[], required: string): boolean {
  return scopes.includes('admin') || scopes.includes(required);
}
