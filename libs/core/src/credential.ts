/** Credential kinds tokenkeeper knows how to refresh. */
export const CREDENTIAL_KINDS = ['oauth2.refresh_token', 'oauth2.client_credentials'] as const;
export type CredentialKind = (typeof CREDENTIAL_KINDS)[number];

/**
 * - `pending`: registered, no token issued yet (first refresh queued).
 * - `active`: holds a token and refreshes it ahead of expiry.
 * - `expired`: its token expired while refreshes kept failing; still retrying.
 * - `reauth_required`: a permanent failure; no attempts until the credential is updated.
 * - `revoked`: deleted; kept only as history.
 */
export const CREDENTIAL_STATES = ['pending', 'active', 'expired', 'reauth_required', 'revoked'] as const;
export type CredentialState = (typeof CREDENTIAL_STATES)[number];

export const CLIENT_AUTH_METHODS = ['none', 'client_secret_basic', 'client_secret_post'] as const;
export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];

/** Non-secret settings of the grant a refresh performs. Secrets live encrypted beside the projection. */
export interface GrantSettings {
  tokenEndpoint: string;
  issuer?: string;
  clientId?: string;
  clientAuth: ClientAuthMethod;
  scope?: string;
  audience?: string;
  resource?: string;
  /** Request timeout for calls to the token endpoint, in milliseconds. */
  timeoutMs?: number;
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
