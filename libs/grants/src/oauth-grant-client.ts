import * as oidc from 'openid-client';
import { createUnpolicedOutboundFetch } from '#common';
import { type GrantFailure, type GrantSettings, parseRetryAfter, type TokenSourceSettings } from '#core';
import {
  type CredentialSecrets,
  type GrantClient,
  GrantConfigurationError,
  GrantError,
  type GrantRequest,
  type GrantResult,
  grantDeadlineMs,
  requiresClientSecret,
} from './grant-client.js';
import { signJwt } from './jwt-template.js';
import { exchangeFacts, type GrantExchange, limitedFetch, ResponseTooLargeError } from './limited-fetch.js';
import { OutboundGrantClient, type OutboundGrantClientOptions } from './outbound-grant-client.js';
import { outboundRefusal } from './outbound-refusal.js';
import { importSigningKey } from './signing-key.js';
import { readSourceToken } from './token-source.js';

export const JWT_BEARER_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
export const TOKEN_EXCHANGE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:token-exchange';

/**
 * The grant an OAuth kind performs at the token endpoint: its `grant_type` and the parameters it
 * sends besides client authentication and the scope, audience and resource every OAuth kind sends.
 * The kind's descriptor names it; OAuthGrantClient performs any of them the same way.
 */
export interface OAuthGrant {
  /** `grant_type`: a grant of RFC 6749 or the absolute URI of an extension grant. */
  grantType: string;
  /**
   * The grant's own parameters, built from the request; sent after scope, audience and resource.
   * Throws GrantConfigurationError when the credential lacks what they need.
   */
  params?(request: GrantRequest, context: OAuthGrantContext): Promise<Record<string, string>>;
}

/** What building a grant's parameters may use besides the request. */
export interface OAuthGrantContext {
  /** The client's clock (epoch ms). */
  now(): number;
  /**
   * The token a source holds: a file under the file source policy, or another credential's
   * current token (same namespace only). See readSourceToken.
   */
  readSourceToken(source: TokenSourceSettings): Promise<string>;
}

/** RFC 6749 §6: the credential's refresh token. */
export const REFRESH_TOKEN_GRANT: OAuthGrant = {
  grantType: 'refresh_token',
  async params({ secrets }) {
    if (!secrets.refreshToken) throw new GrantConfigurationError('the credential has no refresh token');
    return { refresh_token: secrets.refreshToken };
  },
};

/** RFC 6749 §4.4: the client's own credentials, nothing else. */
export const CLIENT_CREDENTIALS_GRANT: OAuthGrant = { grantType: 'client_credentials' };

/** RFC 7523 §2.1: a JWT assertion signed with the credential's private key. */
export const JWT_BEARER_GRANT: OAuthGrant = {
  grantType: JWT_BEARER_GRANT_TYPE,
  async params(request, { now }) {
    return { assertion: await signedAssertion(request, now()) };
  },
};

/** RFC 8693: the subject token read from its source (a file, or another credential's token). */
export const TOKEN_EXCHANGE_GRANT: OAuthGrant = {
  grantType: TOKEN_EXCHANGE_GRANT_TYPE,
  async params(request, context) {
    const exchange = request.grant.tokenExchange;
    if (!exchange) throw new GrantConfigurationError('token exchange settings are missing');
    return {
      subject_token: await context.readSourceToken(exchange.subject),
      subject_token_type: exchange.subjectTokenType,
      ...(exchange.requestedTokenType ? { requested_token_type: exchange.requestedTokenType } : {}),
    };
  },
};

/**
 * The RFC 7523 §3 assertion of `grant.assertion` (iss, sub, aud, exp, iat, jti), signed with the
 * credential's private key; the issuer defaults to the client id, the audience to the token endpoint.
 */
export async function signedAssertion(request: GrantRequest, now: number): Promise<string> {
  const { grant, secrets } = request;
  const template = grant.assertion;
  if (!template) throw new GrantConfigurationError('jwt-bearer assertion settings are missing');
  if (!secrets.privateKey) throw new GrantConfigurationError(`${request.kind} needs a privateKey`);
  const key = await importSigningKey(secrets.privateKey, template.alg);
  const issuer = template.issuer ?? grant.clientId;
  const subject = template.subject ?? issuer;
  const audience = template.audience ?? grant.tokenEndpoint;
  const signed = await signJwt(
    {
      ...template,
      ...(issuer ? { issuer } : {}),
      ...(subject ? { subject } : {}),
      ...(audience ? { audience } : {}),
    },
    key,
    now,
  );
  return signed.jwt;
}

export interface OAuthGrantClientOptions extends OutboundGrantClientOptions {
  /** The grant `execute` performs for each kind it serves; a request of another kind is refused. */
  grants?: Readonly<Record<string, OAuthGrant>>;
}

/**
 * Performs OAuth grants at a token endpoint with openid-client: whatever grant a kind names, the
 * same configuration, client authentication, deadlines, error classification and result.
 */
export class OAuthGrantClient extends OutboundGrantClient {
  private readonly grants: Readonly<Record<string, OAuthGrant>>;

  constructor(options: OAuthGrantClientOptions = {}) {
    super(options);
    this.grants = options.grants ?? {};
  }

  execute(request: GrantRequest): Promise<GrantResult> {
    return this.perform(
      request,
      Object.hasOwn(this.grants, request.kind) ? this.grants[request.kind] : undefined,
    );
  }

  /** A client performing `grant` for every request it is given, on this client. */
  forGrant(grant: OAuthGrant): GrantClient {
    return { execute: (request) => this.perform(request, grant) };
  }

  private async perform(request: GrantRequest, grant: OAuthGrant | undefined): Promise<GrantResult> {
    const exchange: GrantExchange = {};
    const config = await this.configuration(request, exchange);
    const params: Record<string, string> = {};
    if (request.grant.scope) params.scope = request.grant.scope;
    if (request.grant.audience) params.audience = request.grant.audience;
    if (request.grant.resource) params.resource = request.grant.resource;
    let response: oidc.TokenEndpointResponse;
    try {
      if (!grant) throw new GrantConfigurationError(`${request.kind} is not an OAuth grant`);
      Object.assign(params, await grant.params?.(request, this.grantContext(request)));
      response = await oidc.genericGrantRequest(config, grant.grantType, params);
    } catch (err) {
      if (err instanceof GrantConfigurationError || err instanceof GrantError) throw err;
      throw new GrantError(toGrantFailure(err, this.now(), exchange));
    }
    const receivedAt = this.now();
    return {
      accessToken: response.access_token,
      tokenType: response.token_type ?? 'bearer',
      receivedAt,
      sentAt: Math.min(exchange.startedAt ?? receivedAt, receivedAt),
      ...(typeof response.expires_in === 'number' ? { expiresInSeconds: response.expires_in } : {}),
      ...(response.refresh_token ? { refreshToken: response.refresh_token } : {}),
      ...(response.scope ? { scope: response.scope } : {}),
    };
  }

  private grantContext(request: GrantRequest): OAuthGrantContext {
    return {
      now: this.now,
      readSourceToken: (source) => readSourceToken(source, request, this.options),
    };
  }

  private async configuration(request: GrantRequest, exchange: GrantExchange): Promise<oidc.Configuration> {
    const { grant, secrets, timeoutMs } = request;
    if (!grant.tokenEndpoint) throw new GrantConfigurationError('the credential has no token endpoint');
    const endpoint = new URL(grant.tokenEndpoint);
    const server: oidc.ServerMetadata = {
      issuer: grant.issuer ?? endpoint.origin,
      token_endpoint: endpoint.href,
    };
    // openid-client needs a client id for every request; without one the refresh fails visibly.
    if (!grant.clientId)
      throw new GrantConfigurationError('the credential has no clientId: PATCH it with the OAuth client id');
    if (requiresClientSecret(grant.clientAuth) && !secrets.clientSecret) {
      throw new GrantConfigurationError(`client authentication ${grant.clientAuth} needs a client secret`);
    }
    const auth = await clientAuthentication(grant, secrets);
    const config = new oidc.Configuration(server, grant.clientId, undefined, auth);
    if (endpoint.protocol === 'http:') oidc.allowInsecureRequests(config);
    // openid-client's own timeout is the hard deadline too; limitedFetch defers its abort past
    // pending I/O like its own, and the outbound fetch enforces the connect (soft) timeout.
    const deadlineMs = grantDeadlineMs(request);
    config.timeout = Math.max(1, Math.ceil(deadlineMs / 1000));
    config[oidc.customFetch] = limitedFetch(this.fetchImpl, {
      timeoutMs,
      deadlineMs,
      exchange,
      now: this.now,
    });
    return config;
  }
}

async function clientAuthentication(
  grant: GrantSettings,
  secrets: CredentialSecrets,
): Promise<oidc.ClientAuth> {
  switch (grant.clientAuth) {
    case 'client_secret_basic':
      return oidc.ClientSecretBasic(secrets.clientSecret!);
    case 'client_secret_post':
      return oidc.ClientSecretPost(secrets.clientSecret!);
    case 'private_key_jwt': {
      if (!secrets.privateKey) throw new GrantConfigurationError('private_key_jwt needs a privateKey');
      const signing = await importSigningKey(secrets.privateKey, grant.clientAssertionAlg);
      // openid-client signs a fresh assertion (iss = sub = client_id, aud = issuer, jti, exp) per request.
      return oidc.PrivateKeyJwt({ key: signing.key, ...(signing.kid ? { kid: signing.kid } : {}) });
    }
    case 'none':
      return oidc.None();
  }
}

/** Looks up the token endpoint of an issuer by OpenID/OAuth discovery. */
export async function discoverTokenEndpoint(
  issuer: string,
  timeoutMs: number,
  fetchImpl: typeof fetch = createUnpolicedOutboundFetch(),
): Promise<string> {
  const url = new URL(issuer);
  const documentUrl = `${url.href.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const exchange: GrantExchange = {};
  try {
    const config = await oidc.discovery(url, 'tokenkeeper', undefined, undefined, {
      timeout: Math.max(1, Math.ceil(timeoutMs / 1000)),
      [oidc.customFetch]: limitedFetch(fetchImpl, { timeoutMs, exchange }),
      ...(url.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : {}),
    });
    const endpoint = config.serverMetadata().token_endpoint;
    if (!endpoint) throw new GrantConfigurationError(`issuer ${issuer} publishes no token_endpoint`);
    return endpoint;
  } catch (err) {
    if (err instanceof GrantConfigurationError) throw err;
    throw new GrantConfigurationError(
      `discovery at ${documentUrl} failed: ${discoveryFailure(err, exchange)}`,
    );
  }
}

/** Why discovery failed, as a person checking the issuer URL needs it: the status, or the network error. */
function discoveryFailure(err: unknown, exchange: GrantExchange): string {
  if (exchange.status !== undefined && (exchange.status < 200 || exchange.status > 299))
    return `it answered HTTP ${exchange.status}`;
  if (exchange.status !== undefined)
    return `its answer is not a usable discovery document (${(err as Error).message})`;
  const refused = outboundRefusal(err);
  if (refused?.type === 'classified') return refused.message;
  let cause: unknown = err;
  for (let i = 0; i < 5 && cause; i++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return `${code} (${(cause as Error).message})`;
    cause = (cause as { cause?: unknown }).cause;
  }
  return (err as Error)?.message ?? String(err);
}

/**
 * Maps what openid-client throws to a library-independent failure. `exchange` (what the grant's
 * fetch got to) tells a failure before any request (not sent) from one after an answer arrived;
 * in between, the fetch's error says whether the request was sent (see requestSent).
 */
export function toGrantFailure(err: unknown, now: number, exchange?: GrantExchange): GrantFailure {
  const refused = outboundRefusal(err);
  if (refused) return refused;
  if (err instanceof oidc.ResponseBodyError) {
    const retryAfterMs = parseRetryAfter(err.response?.headers.get('retry-after'), now);
    return {
      type: 'oauth_error',
      error: err.error,
      status: err.status,
      ...(err.error_description ? { description: err.error_description } : {}),
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    };
  }
  if (err instanceof oidc.WWWAuthenticateChallengeError) {
    const challenge = err.cause?.[0];
    const error = challenge?.parameters?.error ?? 'invalid_client';
    const description = challenge?.parameters?.error_description;
    return { type: 'oauth_error', error, status: err.status, ...(description ? { description } : {}) };
  }
  const { afterMs, status, sent } = exchangeFacts(err, exchange, now);
  const sentField = sent !== undefined ? { sent } : {};
  if (err instanceof ResponseTooLargeError || (err as Error)?.cause instanceof ResponseTooLargeError) {
    return {
      type: 'invalid_response',
      message: (err as Error).message,
      ...(status !== undefined ? { status } : {}),
      ...sentField,
    };
  }
  const code = (err as { code?: string })?.code;
  const cause = (err as { cause?: unknown })?.cause;
  if (code === 'OAUTH_TIMEOUT' || isAbort(err) || isAbort(cause)) {
    return { type: 'timeout', ...sentField, ...(afterMs !== undefined ? { afterMs } : {}) };
  }
  if (code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' && cause instanceof Response) {
    const retryAfterMs = parseRetryAfter(cause.headers.get('retry-after'), now);
    if (cause.status >= 400 || cause.status < 200) {
      return {
        type: 'http_status',
        status: cause.status,
        sent: true,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      };
    }
    return {
      type: 'invalid_response',
      message: `unexpected response (${cause.status})`,
      status: cause.status,
      sent: true,
    };
  }
  if (err instanceof TypeError && (err.message === 'fetch failed' || cause)) {
    const c = cause as { code?: string; message?: string } | undefined;
    return {
      type: 'network',
      message: c?.message ?? err.message,
      ...(c?.code ? { code: c.code } : {}),
      ...sentField,
    };
  }
  return {
    type: 'invalid_response',
    message: (err as Error)?.message ?? String(err),
    ...(status !== undefined ? { status } : {}),
    ...sentField,
  };
}

function isAbort(err: unknown): boolean {
  const name = (err as { name?: string })?.name;
  return name === 'TimeoutError' || name === 'AbortError';
}
