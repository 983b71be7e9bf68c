import type { CredentialKind } from '#core';
import {
  type GrantClient,
  GrantConfigurationError,
  type GrantRequest,
  type GrantResult,
} from './grant-client.js';
import { JwtMintGrantClient } from './jwt-mint-grant-client.js';
import { OAuthGrantClient } from './oauth-grant-client.js';
import type { TokenSources } from './token-source.js';
import { VaultGrantClient } from './vault-grant-client.js';

/** The grant client of each kind; `static` has none (its tokens are imported, never refreshed). */
export type GrantClientsByKind = Partial<Record<CredentialKind, GrantClient>>;

/** One GrantClient for the refresh service that hands each request to its kind's client. */
export class GrantClientRegistry implements GrantClient {
  constructor(private readonly clients: GrantClientsByKind) {}

  /** The standard set: openid-client for the OAuth kinds, jose for `jwt.mint`, Vault's HTTP API. */
  static standard(options: TokenSources & { fetch?: typeof fetch; now?: () => number }): GrantClientRegistry {
    const oauth = new OAuthGrantClient(options);
    return new GrantClientRegistry({
      'oauth2.refresh_token': oauth,
      'oauth2.client_credentials': oauth,
      'oauth2.jwt_bearer': oauth,
      'oauth2.token_exchange': oauth,
      'jwt.mint': new JwtMintGrantClient(options.now),
      'vault.jwt_login': new VaultGrantClient(options),
    });
  }

  execute(request: GrantRequest): Promise<GrantResult> {
    const client = this.clients[request.kind];
    if (!client) {
      return Promise.reject(
        new GrantConfigurationError(`${request.kind} credentials have no grant to perform`),
      );
    }
    return client.execute(request);
  }
}
