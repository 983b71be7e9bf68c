import type { RefreshPolicyOverrides } from './credential.js';

/** Service-wide refresh policy, in milliseconds. */
export interface RefreshPolicy {
  /** Share of the token lifetime kept as buffer before expiry. */
  fraction: number;
  minBufferMs: number;
  maxBufferMs: number;
  /** Lifetime assumed for a token whose response and payload tell none. */
  defaultLifetimeMs: number;
  /** Up to this share of the buffer is subtracted at random, to spread refreshes out. */
  jitterFraction: number;
}

export const DEFAULT_REFRESH_POLICY: RefreshPolicy = {
  fraction: 1 / 3,
  minBufferMs: 60_000,
  maxBufferMs: 3_600_000,
  defaultLifetimeMs: 3_600_000,
  jitterFraction: 0.1,
};

export function resolvePolicy(base: RefreshPolicy, overrides: RefreshPolicyOverrides = {}): RefreshPolicy {
  return {
    ...base,
    ...(overrides.fraction !== undefined ? { fraction: overrides.fraction } : {}),
    ...(overrides.minBufferSeconds !== undefined ? { minBufferMs: overrides.minBufferSeconds * 1000 } : {}),
    ...(overrides.maxBufferSeconds !== undefined ? { maxBufferMs: overrides.maxBufferSeconds * 1000 } : {}),
    ...(overrides.defaultLifetimeSeconds !== undefined
      ? { defaultLifetimeMs: overrides.defaultLifetimeSeconds * 1000 }
      : {}),
  };
}

export interface LifetimeInput {
  /** When the grant response arrived. */
  receivedAt: number;
  /** `expires_in` (or Vault's `lease_duration`) from the response, in seconds. */
  expiresInSeconds?: number;
  /** The access token itself, consulted for a JWT `exp` only when the response gives no lifetime. */
  accessToken?: string;
}

export interface Lifetime {
  expiresAt: number;
  source: 'expires_in' | 'jwt_exp' | 'default';
}

/** When a freshly issued token expires: `expires_in` from receipt, else the JWT `exp`, else the default. */
export function tokenLifetime(
  input: LifetimeInput,
  policy: Pick<RefreshPolicy, 'defaultLifetimeMs'>,
): Lifetime {
  const { receivedAt, expiresInSeconds } = input;
  // An `expires_in` finite in seconds can still overflow in milliseconds (`1e306`): no expiry at all.
  const expiresAt =
    typeof expiresInSeconds === 'number' && expiresInSeconds > 0
      ? receivedAt + Math.floor(expiresInSeconds * 1000)
      : Number.NaN;
  if (Number.isFinite(expiresAt)) return { expiresAt, source: 'expires_in' };
  const exp = input.accessToken ? jwtExpiry(input.accessToken) : undefined;
  if (exp !== undefined) return { expiresAt: exp, source: 'jwt_exp' };
  return { expiresAt: receivedAt + policy.defaultLifetimeMs, source: 'default' };
}

/** The `exp` claim of a JWT in epoch milliseconds, or undefined for opaque tokens. No signature check. */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    if (payload && typeof payload === 'object' && 'exp' in payload && typeof payload.exp === 'number') {
      // `1e999` parses to Infinity: an expiry that never comes is no expiry at all.
      const expMs = payload.exp * 1000;
      if (Number.isFinite(expMs)) return expMs;
    }
  } catch {
    // Not a JWT: the caller falls back to the configured default lifetime.
  }
  return undefined;
}

/**
 * The buffer kept before expiry: `clamp(fraction × lifetime, minBuffer, maxBuffer)`, but never
 * more than half the lifetime (or the configured fraction, if larger, up to 90 %). Without that
 * ceiling a 10 s token with a 60 s floor would be refreshed again the moment it arrived.
 */
export function refreshBuffer(lifetimeMs: number, policy: RefreshPolicy): number {
  if (lifetimeMs <= 0) return 0;
  const proportional = policy.fraction * lifetimeMs;
  const clamped = Math.min(Math.max(proportional, policy.minBufferMs), policy.maxBufferMs);
  const ceiling = Math.max(lifetimeMs / 2, Math.min(proportional, lifetimeMs * 0.9));
  return Math.min(clamped, ceiling);
}

/**
 * `refresh_at = expires_at − buffer − jitter`, jitter uniform in [0, jitterFraction × buffer).
 * `random` returns a number in [0, 1). The result is never after `expiresAt` and never before `issuedAt`.
 */
export function computeRefreshAt(
  issuedAt: number,
  expiresAt: number,
  policy: RefreshPolicy,
  random: () => number,
): number {
  const lifetime = expiresAt - issuedAt;
  if (lifetime <= 0) return issuedAt;
  const buffer = refreshBuffer(lifetime, policy);
  const jitter = Math.min(Math.max(random(), 0), 1) * policy.jitterFraction * buffer;
  return Math.max(issuedAt, Math.floor(expiresAt - buffer - jitter));
}
