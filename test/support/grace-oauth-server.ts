/**
 * A small standards-shaped OAuth 2.0 authorization server with a refresh-token reuse grace period,
 * as Okta (`refresh_token.leeway`), Auth0 (reuse interval), Atlassian, Xero and Cognito offer:
 *
 * - `POST /token`, `grant_type=refresh_token`, client authentication `client_secret_basic` or
 *   `client_secret_post`; refresh tokens rotate on every use.
 * - Re-presenting a consumed refresh token within `graceSeconds` of its first use yields a valid
 *   new token set (counted as reuse inside the window); after that it is `invalid_grant` and the
 *   whole family (every refresh and access token descended from the same original) is revoked
 *   (counted as reuse outside the window). `graceSeconds: 0` behaves like a strict provider.
 * - `POST /introspect` (RFC 7662) for the introspector client; `GET /.well-known/openid-configuration`.
 * - Access tokens are opaque with a configurable lifetime (`accessTokenTtl`, default 10 s).
 *
 * oidc-provider cannot do this (its reuse detection always revokes the grant), hence this server.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  closeServer,
  type IntrospectionResult,
  type IssuedTokens,
  listen,
  type OAuthClientCredentials,
} from './oauth-server.js';

export interface StartGraceOAuthServerOptions {
  /** Window after a refresh token's first use during which it may be presented again (default 30). */
  graceSeconds?: number;
  /** Access token lifetime in seconds (default 10). */
  accessTokenTtl?: number;
}

export interface GraceOAuthCounters {
  /** Successful refresh grants (first uses and reuses inside the window). */
  refreshes: number;
  /** A consumed refresh token presented again within the window: answered with a new token set. */
  reuseInsideWindow: number;
  /** A consumed refresh token presented after the window: `invalid_grant`, family revoked. */
  reuseOutsideWindow: number;
  /** Every `invalid_grant` (reuse outside the window, unknown or revoked token). */
  invalidGrant: number;
  familiesRevoked: number;
  /** Requests refused for bad client authentication or a malformed request. */
  badRequests: number;
}

export interface GraceOAuthServer {
  /** `http://127.0.0.1:<port>` */
  readonly issuer: string;
  readonly tokenEndpoint: string;
  readonly introspectionEndpoint: string;
  readonly graceSeconds: number;
  readonly clients: {
    basic: OAuthClientCredentials & { clientSecret: string };
    post: OAuthClientCredentials & { clientSecret: string };
    introspector: OAuthClientCredentials & { clientSecret: string };
  };
  readonly counters: GraceOAuthCounters;
  /** A new token family for a client (in process, as if a user had just consented). */
  issueRefreshToken(clientKey?: 'basic' | 'post'): Promise<IssuedTokens>;
  /** RFC 7662 introspection over HTTP with the introspector client. */
  introspect(token: string): Promise<IntrospectionResult>;
  resetCounters(): void;
  stop(): Promise<void>;
}

interface Family {
  clientId: string;
  revoked: boolean;
}
interface RefreshRecord {
  family: Family;
  /** Epoch ms of the first use. */
  consumedAt?: number;
}
interface AccessRecord {
  family: Family;
  clientId: string;
  iat: number;
  exp: number;
}

const emptyCounters = (): GraceOAuthCounters => ({
  refreshes: 0,
  reuseInsideWindow: 0,
  reuseOutsideWindow: 0,
  invalidGrant: 0,
  familiesRevoked: 0,
  badRequests: 0,
});

const opaque = (prefix: string) => `${prefix}_${randomBytes(24).toString('base64url')}`;

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The client a token-endpoint request authenticates as (basic or post), or undefined. */
function authenticate(
  req: IncomingMessage,
  form: URLSearchParams,
  clients: readonly (OAuthClientCredentials & { clientSecret: string })[],
): (OAuthClientCredentials & { clientSecret: string }) | undefined {
  const header = req.headers.authorization;
  let id: string | null;
  let secret: string | null;
  if (header?.startsWith('Basic ')) {
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    id = decodeURIComponent(decoded.slice(0, colon));
    secret = decodeURIComponent(decoded.slice(colon + 1));
  } else {
    id = form.get('client_id');
    secret = form.get('client_secret');
  }
  const client = clients.find((c) => c.clientId === id);
  return client && secret !== null && sameSecret(secret, client.clientSecret) ? client : undefined;
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw new Error('body too large');
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

export async function startGraceOAuthServer(
  opts: StartGraceOAuthServerOptions = {},
): Promise<GraceOAuthServer> {
  const graceSeconds = opts.graceSeconds ?? 30;
  const accessTokenTtl = opts.accessTokenTtl ?? 10;
  const secret = () => randomBytes(24).toString('base64url');
  const clients = {
    basic: { clientId: 'grace-basic', clientSecret: secret(), authMethod: 'client_secret_basic' as const },
    post: { clientId: 'grace-post', clientSecret: secret(), authMethod: 'client_secret_post' as const },
    introspector: {
      clientId: 'grace-introspector',
      clientSecret: secret(),
      authMethod: 'client_secret_basic' as const,
    },
  };
  const refreshTokens = new Map<string, RefreshRecord>();
  const accessTokens = new Map<string, AccessRecord>();
  let counters = emptyCounters();

  const issue = (family: Family): IssuedTokens => {
    const now = Date.now();
    const accessToken = opaque('at');
    const refreshToken = opaque('rt');
    accessTokens.set(accessToken, {
      family,
      clientId: family.clientId,
      iat: now,
      exp: now + accessTokenTtl * 1000,
    });
    refreshTokens.set(refreshToken, { family });
    return { accessToken, refreshToken, expiresIn: accessTokenTtl, tokenType: 'Bearer', scope: 'api' };
  };
  const answer = (res: ServerResponse, t: IssuedTokens) =>
    json(res, 200, {
      access_token: t.accessToken,
      refresh_token: t.refreshToken,
      token_type: t.tokenType,
      expires_in: t.expiresIn,
      scope: t.scope,
    });
  const invalidGrant = (res: ServerResponse, description: string) => {
    counters.invalidGrant += 1;
    json(res, 400, { error: 'invalid_grant', error_description: description });
  };

  const token = async (req: IncomingMessage, res: ServerResponse) => {
    const form = await readForm(req);
    const client = authenticate(req, form, [clients.basic, clients.post]);
    if (!client) {
      counters.badRequests += 1;
      res.setHeader('www-authenticate', 'Basic realm="token"');
      return json(res, 401, { error: 'invalid_client' });
    }
    if (form.get('grant_type') !== 'refresh_token') {
      counters.badRequests += 1;
      return json(res, 400, { error: 'unsupported_grant_type' });
    }
    const presented = form.get('refresh_token') ?? '';
    const record = refreshTokens.get(presented);
    if (!record || record.family.clientId !== client.clientId)
      return invalidGrant(res, 'unknown refresh token');
    if (record.family.revoked) return invalidGrant(res, 'refresh token revoked');
    const now = Date.now();
    if (record.consumedAt !== undefined) {
      if (now - record.consumedAt > graceSeconds * 1000) {
        counters.reuseOutsideWindow += 1;
        record.family.revoked = true;
        counters.familiesRevoked += 1;
        return invalidGrant(res, 'refresh token reused after the grace period; family revoked');
      }
      counters.reuseInsideWindow += 1;
    } else {
      record.consumedAt = now;
    }
    counters.refreshes += 1;
    answer(res, issue(record.family));
  };

  const introspection = async (req: IncomingMessage, res: ServerResponse) => {
    const form = await readForm(req);
    if (!authenticate(req, form, [clients.introspector])) return json(res, 401, { error: 'invalid_client' });
    const value = form.get('token') ?? '';
    const now = Date.now();
    const access = accessTokens.get(value);
    if (access) {
      const active = !access.family.revoked && access.exp > now;
      return json(
        res,
        200,
        active
          ? {
              active,
              client_id: access.clientId,
              token_type: 'Bearer',
              scope: 'api',
              iat: Math.floor(access.iat / 1000),
              exp: Math.floor(access.exp / 1000),
            }
          : { active: false },
      );
    }
    const refresh = refreshTokens.get(value);
    const active =
      refresh !== undefined &&
      !refresh.family.revoked &&
      (refresh.consumedAt === undefined || now - refresh.consumedAt <= graceSeconds * 1000);
    return json(res, 200, active ? { active, client_id: refresh.family.clientId } : { active: false });
  };

  let issuer = '';
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const route =
      req.method === 'POST' && path === '/token'
        ? token
        : req.method === 'POST' && path === '/introspect'
          ? introspection
          : req.method === 'GET' && path === '/.well-known/openid-configuration'
            ? async () =>
                json(res, 200, {
                  issuer,
                  token_endpoint: `${issuer}/token`,
                  introspection_endpoint: `${issuer}/introspect`,
                  grant_types_supported: ['refresh_token'],
                  token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
                })
            : async () => json(res, 404, { error: 'not_found' });
    route(req, res).catch(() => {
      if (!res.headersSent) json(res, 400, { error: 'invalid_request' });
      else res.destroy();
    });
  });
  const port = await listen(server);
  issuer = `http://127.0.0.1:${port}`;

  let stopped: Promise<void> | undefined;
  return {
    issuer,
    tokenEndpoint: `${issuer}/token`,
    introspectionEndpoint: `${issuer}/introspect`,
    graceSeconds,
    clients,
    get counters() {
      return { ...counters };
    },
    async issueRefreshToken(clientKey = 'basic') {
      return issue({ clientId: clients[clientKey].clientId, revoked: false });
    },
    async introspect(value: string) {
      const { clientId, clientSecret } = clients.introspector;
      const res = await fetch(`${issuer}/introspect`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ token: value }),
      });
      if (res.status !== 200) throw new Error(`introspection failed: ${res.status}`);
      return (await res.json()) as IntrospectionResult;
    },
    resetCounters() {
      counters = emptyCounters();
    },
    stop() {
      stopped ??= closeServer(server);
      return stopped;
    },
  };
}
