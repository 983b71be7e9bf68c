import {
  type ClientAuthMethod,
  type CredentialKind,
  type GrantFailure,
  type GrantSettings,
  TokenkeeperError,
} from '#core';

/** Long-lived secrets of a credential, stored encrypted as one ciphertext. */
export interface CredentialSecrets {
  refreshToken?: string;
  clientSecret?: string;
}

export interface GrantRequest {
  kind: CredentialKind;
  grant: GrantSettings;
  secrets: CredentialSecrets;
  timeoutMs: number;
}

/** What a successful grant returned. `receivedAt` is when the response arrived (lifetimes count from it). */
export interface GrantResult {
  accessToken: string;
  tokenType: string;
  expiresInSeconds?: number;
  refreshToken?: string;
  scope?: string;
  receivedAt: number;
}

/** A grant that failed, described in library-independent terms for classification. */
export class GrantError extends TokenkeeperError {
  constructor(readonly failure: GrantFailure) {
    super('GRANT_FAILED', describe(failure));
  }
}

/** Input the credential lacks for its kind or client authentication (a registration mistake). */
export class GrantConfigurationError extends TokenkeeperError {
  constructor(message: string) {
    super('GRANT_MISCONFIGURED', message);
  }
}

/** Port for whatever performs a credential's grant; tests and other kinds plug in here. */
export interface GrantClient {
  execute(request: GrantRequest): Promise<GrantResult>;
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
      return `network error${f.code ? ` ${f.code}` : ''}: ${f.message}`;
    case 'timeout':
      return 'token endpoint timed out';
    case 'invalid_response':
      return `invalid response: ${f.message}`;
  }
}
