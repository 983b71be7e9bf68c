/**
 * Grant types oidc-provider does not ship, added to a test authorization server with
 * `provider.registerGrantType` so tokenkeeper's `oauth2.jwt_bearer` and `oauth2.token_exchange`
 * run against a real token endpoint (client authentication, error responses, opaque tokens that
 * introspect) rather than a mock:
 *
 * - RFC 7523 `urn:ietf:params:oauth:grant-type:jwt-bearer`: the `assertion` must verify with jose
 *   against the trusted JWKS, name a trusted `iss`, have the token endpoint or issuer as `aud`,
 *   and carry `exp` and `jti`. A `jti` seen before is refused (replay).
 * - RFC 8693 `urn:ietf:params:oauth:grant-type:token-exchange`: the `subject_token` must be an
 *   active access token of this server (`...:token-type:access_token`) or a JWT verifying
 *   against the trusted JWKS (`...:token-type:jwt`).
 * Both issue an opaque access token (scope `api`) for the authenticated client; its `sub` is
 * the subject the grant established.
 */
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from 'jose';
import { errors as oidcErrors } from 'oidc-provider';
import type { OAuthServer } from './oauth-server.js';

export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

export interface AssertionGrantOptions {
  /** Keys trusted to sign jwt-bearer assertions and JWT subject tokens. */
  jwks: JSONWebKeySet;
  /** Accepted assertion issuers. */
  issuers: string[];
}

export interface AssertionGrantLog {
  jwtBearer: { sub: string; jti: string }[];
  tokenExchange: { sub: string; subjectTokenType: string; audience?: string }[];
}

interface Ctx {
  oidc: {
    params: Record<string, string | undefined>;
    client: { clientId: string };
  };
  body?: unknown;
}

export function registerAssertionGrants(
  server: OAuthServer,
  options: AssertionGrantOptions,
): AssertionGrantLog {
  const provider = server.provider as unknown as {
    registerGrantType(name: string, handler: (ctx: Ctx) => Promise<void>, params: string[]): void;
    ClientCredentials: {
      new (init: {
        client: unknown;
        scope?: string;
      }): {
        extra?: Record<string, unknown>;
        expiration: number;
        save(): Promise<string>;
      };
      find(
        token: string,
      ): Promise<{ clientId?: string; extra?: Record<string, unknown>; isExpired: boolean } | undefined>;
    };
    AccessToken: { find(token: string): Promise<{ accountId?: string; isExpired: boolean } | undefined> };
  };
  const keys = createLocalJWKSet(options.jwks);
  const seenJti = new Set<string>();
  const log: AssertionGrantLog = { jwtBearer: [], tokenExchange: [] };

  const issue = async (ctx: Ctx, sub: string, extra: Record<string, unknown> = {}) => {
    const token = new provider.ClientCredentials({ client: ctx.oidc.client, scope: 'api' });
    token.extra = { sub, ...extra };
    const value = await token.save();
    return { access_token: value, token_type: 'Bearer', expires_in: token.expiration, scope: 'api' };
  };

  provider.registerGrantType(
    JWT_BEARER,
    async (ctx) => {
      const assertion = ctx.oidc.params.assertion ?? '';
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(assertion, keys, {
          issuer: options.issuers,
          audience: [server.tokenEndpoint, server.issuer],
          requiredClaims: ['exp', 'jti', 'sub'],
          maxTokenAge: '10 min',
        }));
      } catch (err) {
        throw new oidcErrors.InvalidGrant(`assertion rejected: ${(err as Error).message}`);
      }
      const jti = String(payload.jti);
      if (seenJti.has(jti)) throw new oidcErrors.InvalidGrant('assertion replayed');
      seenJti.add(jti);
      log.jwtBearer.push({ sub: String(payload.sub), jti });
      ctx.body = await issue(ctx, String(payload.sub));
    },
    ['assertion', 'scope'],
  );

  provider.registerGrantType(
    TOKEN_EXCHANGE,
    async (ctx) => {
      const { subject_token: subjectToken = '', subject_token_type: type = '', audience } = ctx.oidc.params;
      let sub: string | undefined;
      if (type === ACCESS_TOKEN_TYPE) {
        const cc = await provider.ClientCredentials.find(subjectToken);
        const at = cc ? undefined : await provider.AccessToken.find(subjectToken);
        const found = cc ?? at;
        if (found && !found.isExpired) {
          sub = cc ? String(cc.extra?.sub ?? cc.clientId) : String(at?.accountId);
        }
      } else if (type === JWT_TOKEN_TYPE) {
        try {
          const { payload } = await jwtVerify(subjectToken, keys);
          sub = payload.sub;
        } catch {
          sub = undefined;
        }
      } else {
        throw new oidcErrors.InvalidGrant(`unsupported subject_token_type ${type}`);
      }
      if (!sub) throw new oidcErrors.InvalidGrant('subject_token is not active');
      log.tokenExchange.push({ sub, subjectTokenType: type, ...(audience ? { audience } : {}) });
      ctx.body = {
        ...(await issue(ctx, sub, { act: { sub: ctx.oidc.client.clientId } })),
        issued_token_type: ACCESS_TOKEN_TYPE,
      };
    },
    [
      'subject_token',
      'subject_token_type',
      'requested_token_type',
      'audience',
      'scope',
      'actor_token',
      'actor_token_type',
    ],
  );
  return log;
}
