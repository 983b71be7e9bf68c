import {
  boundGrantFailure,
  boundText,
  type ClientAuthMethod,
  type CredentialKind,
  type GrantFailure,
  type GrantSettings,
  type TokenInfo,
  TokenkeeperError,
} from '#core';

/** A Vault login the `vault.jwt_login` grant renews; kept with the secrets because it holds the token. */
export interface VaultSession {
  clientToken: string;
  /** When the login happened (epoch ms): the max TTL counts from here. */
  loginAt: number;
  renewable: boolean;
  /** `lease_duration` of the login, in seconds: the lease each renewal asks for. */
  leaseSeconds: number;
  /** The token cannot live past this (epoch ms), from `maxTtlSeconds` or a renewal Vault capped. */
  maxExpiresAt?: number;
}

/**
 * Long-lived secrets of a credential, stored encrypted as one ciphertext: the shared ones, a Vault
 * session, and the secrets a kind declares as its own (strings, by the name its descriptor gives).
 */
export interface CredentialSecrets {
  refreshToken?: string;
  clientSecret?: string;
  /** PEM (PKCS#8) or JWK (JSON) private key: `private_key_jwt`, `oauth2.jwt_bearer`, `jwt.mint`. */
  privateKey?: string;
  vaultSession?: VaultSession;
  /** A kind's own secret, by the name its descriptor's `secrets` gives: a string when held. */
  [secret: string]: string | VaultSession | undefined;
}

export interface GrantRequest {
  kind: CredentialKind;
  grant: GrantSettings;
  secrets: CredentialSecrets;
  /**
   * Soft timeout, ms: the connection must be up by then (else the request is not sent and the
   * grant fails as not sent). Past it, a sent request is still waited for, up to `deadlineMs`.
   */
  timeoutMs: number;
  /**
   * Hard deadline, ms from when the request starts, for the answer to a request that was sent; the
   * grant never abandons a sent request before it. Default: `timeoutMs`.
   */
  deadlineMs?: number;
  /** The credential being refreshed: grants that read another credential stay in its namespace. */
  credentialId?: string;
  namespace?: string;
  /** The token the credential holds now, if any. */
  current?: TokenInfo;
}

/** What a successful grant returned. */
export interface GrantResult {
  accessToken: string;
  tokenType: string;
  expiresInSeconds?: number;
  refreshToken?: string;
  scope?: string;
  /** When the response arrived (epoch ms). */
  receivedAt: number;
  /**
   * When the request that produced the result was sent (epoch ms): when it was handed to the
   * transport, at or before its first byte left, and `receivedAt` at the latest. The provider
   * issued the token after this, so lifetimes counted from here are never too long.
   */
  sentAt: number;
  /** Secret fields the grant changed besides a rotated refresh token (merged and persisted with the token). */
  secretsPatch?: Partial<CredentialSecrets>;
}

/** A grant that failed, described in library-independent terms for classification; its text is bounded. */
export class GrantError extends TokenkeeperError {
  static override readonly code = 'GRANT_FAILED';
  readonly failure: GrantFailure;
  constructor(failure: GrantFailure) {
    const bounded = boundGrantFailure(failure);
    super(boundText(describe(bounded)));
    this.failure = bounded;
  }
}

/** Input the credential lacks for its kind or client authentication (a registration mistake). */
export class GrantConfigurationError extends TokenkeeperError {
  static override readonly code: string = 'GRANT_MISCONFIGURED';
}

/** Port for whatever performs a credential's grant; tests and other kinds plug in here. */
export interface GrantClient {
  execute(request: GrantRequest): Promise<GrantResult>;
}

/** The hard deadline of a grant request: `deadlineMs`, never shorter than the soft timeout. */
export function grantDeadlineMs(request: Pick<GrantRequest, 'timeoutMs' | 'deadlineMs'>): number {
  return Math.max(request.timeoutMs, request.deadlineMs ?? request.timeoutMs);
}

/** Reads the current access token of another credential (same namespace only). */
export interface CredentialTokenReader {
  /** Throws GrantError (transient) when the credential has no valid token right now. */
  currentToken(namespace: string, credentialId: string): Promise<string>;
}

export function requiresClientSecret(method: ClientAuthMethod): boolean {
  return method === 'client_secret_basic' || method === 'client_secret_post';
}

function describe(f: GrantFailure): string {
  switch (f.type) {
    case 'oauth_error':
      return `${f.error}${f.description ? `: ${f.description}` : ''} (${f.status})`;
    case 'http_status':
      return `token endpoint answered ${f.status}`;
    case 'network':
      return `network error${f.code ? ` ${f.code}` : ''}${f.sent === false ? ' (not sent)' : ''}: ${f.message}`;
    case 'timeout':
      return f.sent === false ? 'not connected in time (not sent)' : 'no answer in time';
    case 'invalid_response':
      return `invalid response: ${f.message}`;
    case 'classified':
      return f.message;
  }
}
