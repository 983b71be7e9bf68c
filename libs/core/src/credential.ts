import type { RotationSettings } from './rotation.js';

/**
 * A credential kind's name (`oauth2.refresh_token`, `jwt.mint`, ...). The kinds and everything
 * about each are described in libs/refresh/src/kinds (`#kinds`), one file per kind.
 */
export type CredentialKind = string;

/**
 * - `pending`: registered, no token issued yet (first refresh queued).
 * - `active`: holds a token and refreshes it ahead of expiry.
 * - `expired`: its token expired while refreshes kept failing; still retrying.
 * - `reauth_required`: a permanent failure; no attempts until the credential is updated.
 * - `revoked`: deleted; kept only as history.
 */
export const CREDENTIAL_STATES = ['pending', 'active', 'expired', 'reauth_required', 'revoked'] as const;
export type CredentialState = (typeof CREDENTIAL_STATES)[number];

/** Client authentication methods that send a client secret (RFC 6749 §2.3.1). */
export const CLIENT_SECRET_METHODS = ['client_secret_basic', 'client_secret_post'] as const;
/** How a client authenticates at the token endpoint: not at all, with a secret, or a signed JWT (RFC 7523). */
export const CLIENT_AUTH_METHODS = ['none', ...CLIENT_SECRET_METHODS, 'private_key_jwt'] as const;
export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];

/**
 * JWS algorithms tokenkeeper signs with (assertions, client authentication, minted JWTs): RSA
 * PKCS#1 v1.5, RSA-PSS and ECDSA at three hash sizes each, and EdDSA.
 */
export const SIGNING_ALGS = [
  ...(['RS256', 'RS384', 'RS512'] as const),
  ...(['PS256', 'PS384', 'PS512'] as const),
  ...(['ES256', 'ES384', 'ES512'] as const),
  'EdDSA',
] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

/** How a JWT that tokenkeeper signs itself looks (`jwt.mint` tokens, RFC 7523 assertions). */
export interface JwtTemplate {
  /** Signing algorithm; inferred from the key when absent. */
  alg?: SigningAlg;
  /** `kid` header; the key's own `kid` (JWK) when absent. */
  kid?: string;
  /** Lifetime of each JWT, in seconds. */
  ttlSeconds: number;
  issuer?: string;
  subject?: string;
  audience?: string | string[];
  /** Extra claims, merged under the registered ones (`iat`, `exp`, `jti`, ... always win). */
  claims?: Record<string, unknown>;
}

/**
 * Where a token that a grant consumes comes from: another credential of the same namespace
 * (its current access token) or a file that something else keeps fresh (e.g. spiffe-helper).
 */
export type TokenSourceSettings = { credentialId: string } | { file: string };

/** RFC 8693 token exchange settings. */
export interface TokenExchangeSettings {
  subject: TokenSourceSettings;
  subjectTokenType: string;
  requestedTokenType?: string;
}

/** Vault (or OpenBao) JWT auth method login. */
export interface VaultLoginSettings {
  /** `https://vault.example:8200`; requests go to `{address}/v1/auth/{mount}/login` and `/v1/auth/token/renew-self`. */
  address: string;
  mount: string;
  role: string;
  jwt: TokenSourceSettings;
  /** Re-login instead of renewing once a token would outlive this many seconds after its login. */
  maxTtlSeconds?: number;
  /** Vault Enterprise / OpenBao namespace (`X-Vault-Namespace`). */
  vaultNamespace?: string;
}

/** Non-secret settings of the grant a refresh performs. Secrets live encrypted beside the projection. */
export interface GrantSettings {
  /** The token endpoint of the OAuth kinds; absent for `jwt.mint`, `vault.jwt_login` and `static`. */
  tokenEndpoint?: string;
  issuer?: string;
  clientId?: string;
  clientAuth: ClientAuthMethod;
  /** `alg` for `private_key_jwt` client assertions; inferred from the key when absent. */
  clientAssertionAlg?: SigningAlg;
  scope?: string;
  audience?: string;
  resource?: string;
  /** Request timeout for calls to the token endpoint (or Vault), in milliseconds. */
  timeoutMs?: number;
  /** `jwt.mint`: the JWT to sign. */
  mint?: JwtTemplate;
  /** `oauth2.jwt_bearer`: the assertion to sign and present. */
  assertion?: JwtTemplate;
  tokenExchange?: TokenExchangeSettings;
  vault?: VaultLoginSettings;
  /**
   * Settings of a kind's own fields that none above holds (a kind's descriptor sets and reads
   * them; bounded by its field schemas), e.g. the `username` of a password grant.
   */
  params?: Record<string, string>;
}

/** Per-credential overrides of the refresh policy; absent fields use the service defaults. */
export interface RefreshPolicyOverrides {
  fraction?: number;
  minBufferSeconds?: number;
  maxBufferSeconds?: number;
  defaultLifetimeSeconds?: number;
}

/** Non-secret facts about the current token. */
export interface TokenInfo {
  tokenVersion: number;
  issuedAt: number;
  expiresAt: number;
  refreshAt: number;
  tokenType: string;
  scope?: string;
}

export interface FailureInfo {
  at: number;
  attempt: number;
  class: 'transient' | 'permanent';
  code: string;
  message: string;
  status?: number;
  nextAttemptAt?: number;
  /**
   * `unknown`: the request may have reached the provider but its answer never did (a timeout
   * after sending, a worker that died with the request in flight); `not_sent`: it never left.
   */
  outcome?: 'unknown' | 'not_sent';
}

/** The current state of a credential: the fold of its events. Never holds a secret. */
export interface CredentialProjection {
  id: string;
  namespace: string;
  kind: CredentialKind;
  name: string;
  labels: Record<string, string>;
  state: CredentialState;
  /** Revision of the event stream: the number of events folded so far. */
  revision: number;
  grant: GrantSettings;
  policy: RefreshPolicyOverrides;
  /** Rotation settings as registered (absent: the kind's defaults, see `resolveRotation`). */
  rotation?: RotationSettings;
  token?: TokenInfo;
  /** Consecutive failed attempts since the last success. */
  failures: number;
  lastFailure?: FailureInfo;
  lastRefreshAt?: number;
  createdAt: number;
  updatedAt: number;
}

/** States in which the scheduler keeps refreshing a credential. */
export function isRefreshing(state: CredentialState): boolean {
  return state === 'pending' || state === 'active' || state === 'expired';
}
