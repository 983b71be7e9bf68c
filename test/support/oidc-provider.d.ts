/**
 * Minimal ambient typings for `oidc-provider` 9 (the package ships no types and there is
 * no maintained `@types` package for v9). Only what the test support uses is typed; the
 * configuration object stays loose on purpose.
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export interface OidcErrorLike extends Error {
    error: string;
    error_description?: string;
    /** Internal detail, not exposed to the client. */
    error_detail?: string;
    statusCode?: number;
  }

  export interface OidcContextLike {
    oidc?: {
      route?: string;
      params?: Record<string, unknown>;
      client?: { clientId: string };
    };
  }

  export interface GrantModel {
    jti: string;
    accountId: string;
    clientId: string;
    addOIDCScope(scope: string): void;
    addResourceScope(resource: string, scope: string): void;
    save(): Promise<string>;
  }

  export interface BackchannelAuthenticationRequestModel {
    jti: string;
    accountId: string;
    clientId: string;
    scope?: string;
    resource?: string | string[];
  }

  export class Provider {
    constructor(issuer: string, configuration?: Record<string, unknown>);
    readonly issuer: string;
    readonly Grant: new (props: {
      accountId: string;
      clientId: string;
    }) => GrantModel;
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    backchannelResult(
      request: BackchannelAuthenticationRequestModel | string,
      result: GrantModel | OidcErrorLike | string,
      options?: Record<string, unknown>,
    ): Promise<void>;
    // biome-ignore lint/suspicious/noExplicitAny: event payloads differ per event
    on(event: string, listener: (...args: any[]) => void): this;
    removeAllListeners(event?: string): this;
  }

  export const errors: {
    InvalidTarget: new (description?: string) => OidcErrorLike;
    InvalidGrant: new (description?: string) => OidcErrorLike;
    AccessDenied: new (description?: string) => OidcErrorLike;
  };
  export default Provider;
}
