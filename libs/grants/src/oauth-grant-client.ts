import * as oidc from 'openid-client';
import { type GrantFailure, type GrantSettings, parseRetryAfter } from '#core';
import {
  type CredentialSecrets,
  type GrantClient,
  GrantConfigurationError,
  GrantError,
  type GrantRequest,
  type GrantResult,
  requiresClientSecret,
} from './grant-client.js';

/** Largest token-endpoint response body read; anything bigger is refused, not buffered. */
export const MAX_RESPONSE_BYTES = 256 * 1024;

export interface OAuthGrantClientOptions {
  now?: () => number;
  /** Passed to every request; the outbound URL policy plugs in here. */
  fetch?: typeof fetch;
}

/** Performs OAuth grants at a token endpoint with openid-client. */
export class OAuthGrantClient implements GrantClient {
  private readonly now: () => number;
  private readonly fetchImpl: typeof fetch;

  constructor(options: OAuthGrantClientOptions = {}) {
    this.now = options.now ?? Date.now;
    this.fetchImpl = options.fetch ?? fetch;
  }

  async execute(request: GrantRequest): Promise<GrantResult> {
    const config = this.configuration(request.grant, request.secrets, request.timeoutMs);
    const params: Record<string, string> = {};
    if (request.grant.scope) params.scope = request.grant.scope;
    if (request.grant.audience) params.audience = request.grant.audience;
    if (request.grant.resource) params.resource = request.grant.resource;
    let response: oidc.TokenEndpointResponse;
    try {
      switch (request.kind) {
        case 'oauth2.refresh_token': {
          if (!request.secrets.refreshToken)
            throw new GrantConfigurationError('the credential has no refresh token');
          response = await oidc.refreshTokenGrant(config, request.secrets.refreshToken, params);
          break;
        }
        case 'oauth2.client_credentials':
          response = await oidc.clientCredentialsGrant(config, params);
          break;
      }
    } catch (err) {
      if (err instanceof GrantConfigurationError) throw err;
      throw new GrantError(toGrantFailure(err, this.now()));
    }
    const receivedAt = this.now();
    return {
      accessToken: response.access_token,
      tokenType: response.token_type ?? 'bearer',
      receivedAt,
      ...(typeof response.expires_in === 'number' ? { expiresInSeconds: response.expires_in } : {}),
      ...(response.refresh_token ? { refreshToken: response.refresh_token } : {}),
      ...(response.scope ? { scope: response.scope } : {}),
    };
  }

  private configuration(
    grant: GrantSettings,
    secrets: CredentialSecrets,
    timeoutMs: number,
  ): oidc.Configuration {
    const endpoint = new URL(grant.tokenEndpoint);
    const server: oidc.ServerMetadata = {
      issuer: grant.issuer ?? endpoint.origin,
      token_endpoint: endpoint.href,
    };
    if (requiresClientSecret(grant.clientAuth) && !secrets.clientSecret) {
      throw new GrantConfigurationError(`client authentication ${grant.clientAuth} needs a client secret`);
    }
    const auth =
      grant.clientAuth === 'client_secret_basic'
        ? oidc.ClientSecretBasic(secrets.clientSecret!)
        : grant.clientAuth === 'client_secret_post'
          ? oidc.ClientSecretPost(secrets.clientSecret!)
          : oidc.None();
    const config = new oidc.Configuration(server, grant.clientId ?? '', undefined, auth);
    if (endpoint.protocol === 'http:') oidc.allowInsecureRequests(config);
    config.timeout = Math.max(1, Math.ceil(timeoutMs / 1000));
    config[oidc.customFetch] = limitedFetch(this.fetchImpl, timeoutMs);
    return config;
  }
}

/** Looks up the token endpoint of an issuer by OpenID/OAuth discovery. */
export async function discoverTokenEndpoint(
  issuer: string,
  timeoutMs: number,
  fetchImpl: typeof fetch = fetch,
): Promise<string> {
  const url = new URL(issuer);
  try {
    const config = await oidc.discovery(url, 'tokenkeeper', undefined, undefined, {
      timeout: Math.max(1, Math.ceil(timeoutMs / 1000)),
      [oidc.customFetch]: limitedFetch(fetchImpl, timeoutMs),
      ...(url.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : {}),
    });
    const endpoint = config.serverMetadata().token_endpoint;
    if (!endpoint) throw new GrantConfigurationError(`issuer ${issuer} publishes no token_endpoint`);
    return endpoint;
  } catch (err) {
    if (err instanceof GrantConfigurationError) throw err;
    throw new GrantConfigurationError(`discovery at ${issuer} failed: ${(err as Error).message}`);
  }
}

/** Wraps fetch with a hard deadline and a response size limit; redirects are not followed. */
function limitedFetch(fetchImpl: typeof fetch, timeoutMs: number): oidc.CustomFetch {
  return async (url, options) => {
    const signal = AbortSignal.any([
      AbortSignal.timeout(timeoutMs),
      ...(options.signal ? [options.signal] : []),
    ]);
    const res = await fetchImpl(url, { ...options, signal, redirect: 'manual' } as RequestInit);
    const body = await readLimited(res, MAX_RESPONSE_BYTES);
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

async function readLimited(res: Response, limit: number): Promise<Uint8Array | null> {
  if (!res.body) return null;
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > limit) throw new ResponseTooLargeError(limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

class ResponseTooLargeError extends Error {
  constructor(limit: number) {
    super(`response larger than ${limit} bytes`);
  }
}

/** Maps what openid-client throws to a library-independent failure. */
export function toGrantFailure(err: unknown, now: number): GrantFailure {
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
  if (err instanceof ResponseTooLargeError || (err as Error)?.cause instanceof ResponseTooLargeError) {
    return { type: 'invalid_response', message: (err as Error).message };
  }
  const code = (err as { code?: string })?.code;
  const cause = (err as { cause?: unknown })?.cause;
  if (code === 'OAUTH_TIMEOUT' || isAbort(err) || isAbort(cause)) return { type: 'timeout' };
  if (code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' && cause instanceof Response) {
    const retryAfterMs = parseRetryAfter(cause.headers.get('retry-after'), now);
    if (cause.status >= 400 || cause.status < 200) {
      return {
        type: 'http_status',
        status: cause.status,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      };
    }
    return { type: 'invalid_response', message: `unexpected response (${cause.status})` };
  }
  if (err instanceof TypeError && (err.message === 'fetch failed' || cause)) {
    const c = cause as { code?: string; message?: string } | undefined;
    return { type: 'network', message: c?.message ?? err.message, ...(c?.code ? { code: c.code } : {}) };
  }
  return { type: 'invalid_response', message: (err as Error)?.message ?? String(err) };
}

function isAbort(err: unknown): boolean {
  const name = (err as { name?: string })?.name;
  return name === 'TimeoutError' || name === 'AbortError';
}
