/**
 * A real OAuth 2.0 / OpenID Connect authorization server (oidc-provider 9) running in the
 * test process on 127.0.0.1, for integration and e2e tests of refresh logic.
 *
 * - Refresh tokens are obtained without a browser through CIBA in poll mode: the
 *   backchannel request is approved at once inside `triggerAuthenticationDevice` (a Grant
 *   is created and `provider.backchannelResult` called), then the token endpoint is called
 *   directly with grant type `urn:openid:params:grant-type:ciba`.
 * - Refresh tokens rotate on every use by default; presenting a used one gives
 *   `invalid_grant` and revokes the whole grant (the newest refresh token dies too).
 * - Access tokens are opaque, with a configurable lifetime (`accessTokenTtl`, default 10 s).
 * - Without a `resource` parameter, `client_credentials` issues an opaque token for the
 *   requested static scope (`api`). With `resource=<apiResource>` the token is bound to that
 *   resource server (audience), still opaque, with the same TTL.
 * - Provider events are counted: successful grants by grant type, `invalid_grant` errors,
 *   refresh-token reuse, revoked grants, and every error event.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import Provider, {
  type BackchannelAuthenticationRequestModel,
  type OidcContextLike,
  type OidcErrorLike,
  errors as oidcErrors,
} from 'oidc-provider';
import type { ServerMetadata } from 'openid-client';

export const CIBA_GRANT_TYPE = 'urn:openid:params:grant-type:ciba';
/** Default scope for `issueRefreshToken` (`offline_access` is what yields a refresh token). */
export const DEFAULT_REFRESH_SCOPE = 'openid offline_access api';
/** Account used for CIBA approvals unless another `accountId` is given. */
export const DEFAULT_ACCOUNT_ID = 'user-1';

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

export interface OAuthClientCredentials {
  clientId: string;
  /** Absent for the public client. */
  clientSecret?: string;
  authMethod: ClientAuthMethod;
}

/** Clients that can obtain refresh tokens (CIBA + refresh_token grants). */
export type RefreshClientKey = 'basic' | 'post' | 'public';

export interface OAuthClients {
  /** Confidential, `client_secret_basic`; CIBA + refresh_token. */
  basic: OAuthClientCredentials & { clientSecret: string };
  /** Confidential, `client_secret_post`; CIBA + refresh_token. */
  post: OAuthClientCredentials & { clientSecret: string };
  /** Public, `token_endpoint_auth_method: none`; CIBA + refresh_token. */
  public: OAuthClientCredentials;
  /** Confidential (`client_secret_basic`), `client_credentials` only, scope `api`. */
  clientCredentials: OAuthClientCredentials & { clientSecret: string };
  /** Confidential (`client_secret_basic`), used by `introspect()`; may introspect any token. */
  introspector: OAuthClientCredentials & { clientSecret: string };
}

export interface StartOAuthServerOptions {
  /** Access token lifetime in seconds (default 10); applies to refresh and client_credentials. */
  accessTokenTtl?: number;
  /** Rotate the refresh token on every use (default true). `false` never rotates. */
  rotateRefreshToken?: boolean;
  /** Refresh token lifetime in seconds (default 1 day). */
  refreshTokenTtl?: number;
  /**
   * More client metadata, registered statically beside the standard clients (e.g. a
   * `private_key_jwt` client with its public `jwks`, or clients of grant types added later with
   * `provider.registerGrantType`).
   */
  extraClients?: Record<string, unknown>[];
}

export interface IssuedTokens {
  accessToken: string;
  refreshToken: string;
  /** Seconds, as returned by the token endpoint. */
  expiresIn: number;
  scope?: string;
  idToken?: string;
  tokenType: string;
}

export interface IssueRefreshTokenOptions {
  /** Account (subject) to approve for; default `user-1`. */
  accountId?: string;
  /** Resource indicator (e.g. `server.apiResource`) to bind the access tokens to. */
  resource?: string;
}

export interface IntrospectionResult {
  active: boolean;
  client_id?: string;
  sub?: string;
  scope?: string;
  exp?: number;
  iat?: number;
  token_type?: string;
  aud?: string | string[];
  [claim: string]: unknown;
}

export interface OAuthErrorEvent {
  /** Provider event name, e.g. `grant.error`, `introspection.error`, `server_error`. */
  event: string;
  error: string;
  description?: string;
  /** oidc-provider's internal `error_detail` (not sent to the client), e.g. `refresh token already used`. */
  detail?: string;
  grantType?: string;
  clientId?: string;
  at: number;
}

export interface OAuthCounters {
  /** Successful token endpoint responses by `grant_type` (`refresh_token`, `client_credentials`, CIBA...). */
  grants: Record<string, number>;
  /** `invalid_grant` errors at the token endpoint (any cause). */
  invalidGrant: number;
  /** Of those, how many were a rotated (already used) refresh token presented again. */
  refreshTokenReuse: number;
  /** `grant.revoked` events (reuse detection, revocation endpoint...). */
  grantsRevoked: number;
  /** Every error event, oldest first. */
  errors: OAuthErrorEvent[];
}

export interface OAuthServer {
  /** `http://127.0.0.1:<port>` */
  readonly issuer: string;
  readonly port: number;
  readonly tokenEndpoint: string;
  readonly introspectionEndpoint: string;
  readonly revocationEndpoint: string;
  /** Resource indicator accepted by this server (`resource` parameter), scope `api`. */
  readonly apiResource: string;
  readonly clients: OAuthClients;
  /** Current access token lifetime in seconds. */
  readonly accessTokenTtl: number;
  /** Snapshot of the counters. */
  readonly counters: OAuthCounters;
  /** The underlying oidc-provider instance (escape hatch). */
  readonly provider: Provider;
  /**
   * Obtains a fresh refresh token for a client through CIBA (no browser), each call a new grant.
   * `scope` (default `openid offline_access api`) must contain `openid` (CIBA requires it) and
   * `offline_access` (no refresh token otherwise). With `opts.resource = apiResource` the access
   * tokens (also after refresh) are bound to that audience with scope `api`.
   */
  issueRefreshToken(
    clientKey: RefreshClientKey,
    scope?: string,
    opts?: IssueRefreshTokenOptions,
  ): Promise<IssuedTokens>;
  /** RFC 7662 introspection with the introspector client. */
  introspect(token: string, tokenTypeHint?: 'access_token' | 'refresh_token'): Promise<IntrospectionResult>;
  /**
   * The discovery document with every endpoint URL moved to `baseUrl` (issuer unchanged),
   * e.g. to route token calls through a fault proxy: `new client.Configuration(server.metadataVia(proxy.url), ...)`.
   */
  metadataVia(baseUrl: string): ServerMetadata;
  /** Changes the access token lifetime for tokens issued from now on. */
  setAccessTokenTtl(seconds: number): void;
  /** Number of successful grants of one type since the last reset. */
  grantCount(grantType: string): number;
  resetCounters(): void;
  stop(): Promise<void>;
}

let signingKey: Record<string, unknown> | undefined;

/** One RS256 key per test process (RSA generation is the slow part of starting a server). */
function rs256Jwk(): Record<string, unknown> {
  if (!signingKey) {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    signingKey = {
      ...(privateKey.export({ format: 'jwk' }) as Record<string, unknown>),
      alg: 'RS256',
      use: 'sig',
      kid: `tkt-${randomBytes(4).toString('hex')}`,
    };
  }
  return signingKey;
}

interface StoredEntry {
  payload: Record<string, unknown>;
  expiresAt: number;
}

/**
 * Unbounded in-memory storage for one provider. The adapter oidc-provider falls back to is
 * an LRU capped at 1000 entries (and warns on every start): under load tests that would
 * silently evict live refresh tokens and turn refreshes into `invalid_grant`.
 */
class MemoryStore {
  readonly entries = new Map<string, StoredEntry>();
  readonly byGrant = new Map<string, Set<string>>();
  readonly index = new Map<string, string>();

  get(key: string): Record<string, unknown> | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.payload;
  }

  adapterFor(model: string) {
    const store = this;
    const key = (id: string) => `${model}:${id}`;
    return {
      async upsert(id: string, payload: Record<string, unknown>, expiresIn?: number) {
        const expiresAt =
          typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Number.POSITIVE_INFINITY;
        store.entries.set(key(id), { payload, expiresAt });
        if (typeof payload.grantId === 'string') {
          const members = store.byGrant.get(payload.grantId) ?? new Set<string>();
          members.add(key(id));
          store.byGrant.set(payload.grantId, members);
        }
        if (typeof payload.uid === 'string') store.index.set(`uid:${payload.uid}`, id);
        if (typeof payload.userCode === 'string') store.index.set(`userCode:${payload.userCode}`, id);
      },
      async find(id: string) {
        return store.get(key(id));
      },
      async findByUid(uid: string) {
        const id = store.index.get(`uid:${uid}`);
        return id === undefined ? undefined : store.get(key(id));
      },
      async findByUserCode(userCode: string) {
        const id = store.index.get(`userCode:${userCode}`);
        return id === undefined ? undefined : store.get(key(id));
      },
      async consume(id: string) {
        const payload = store.get(key(id));
        if (payload) payload.consumed = Math.floor(Date.now() / 1000);
      },
      async destroy(id: string) {
        store.entries.delete(key(id));
      },
      async revokeByGrantId(grantId: string) {
        for (const member of store.byGrant.get(grantId) ?? []) store.entries.delete(member);
        store.byGrant.delete(grantId);
      },
    };
  }
}

function secret(): string {
  return randomBytes(24).toString('base64url');
}

function emptyCounters(): OAuthCounters {
  return { grants: {}, invalidGrant: 0, refreshTokenReuse: 0, grantsRevoked: 0, errors: [] };
}

/** Adds client authentication to a token-endpoint-style request (form body + headers). */
export function applyClientAuth(
  client: OAuthClientCredentials,
  body: URLSearchParams,
  headers: Record<string, string>,
): void {
  switch (client.authMethod) {
    case 'client_secret_basic': {
      const id = encodeURIComponent(client.clientId);
      const pw = encodeURIComponent(client.clientSecret ?? '');
      headers.authorization = `Basic ${Buffer.from(`${id}:${pw}`).toString('base64')}`;
      break;
    }
    case 'client_secret_post':
      body.set('client_id', client.clientId);
      body.set('client_secret', client.clientSecret ?? '');
      break;
    case 'none':
      body.set('client_id', client.clientId);
      break;
  }
}

async function postForm(
  url: string,
  client: OAuthClientCredentials,
  params: Record<string, string>,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const body = new URLSearchParams(params);
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  applyClientAuth(client, body, headers);
  const res = await fetch(url, { method: 'POST', headers, body });
  const text = await res.text();
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`${url} answered ${res.status} with non-JSON body: ${text.slice(0, 200)}`);
  }
  return { status: res.status, json };
}

/** Listens on a free 127.0.0.1 port; resolves to the port. */
export function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
}

/** Starts the authorization server on a free 127.0.0.1 port. */
export async function startOAuthServer(opts: StartOAuthServerOptions = {}): Promise<OAuthServer> {
  let accessTokenTtl = opts.accessTokenTtl ?? 10;
  const rotate = opts.rotateRefreshToken ?? true;
  const refreshTokenTtl = opts.refreshTokenTtl ?? 24 * 60 * 60;

  // Listen first so the issuer (with its port) is known before the provider is built.
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const server = createServer((req, res) => handler(req, res));
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${port}`;
  const apiResource = `${issuer}/api`;

  const clients: OAuthClients = {
    basic: { clientId: 'tk-basic', clientSecret: secret(), authMethod: 'client_secret_basic' },
    post: { clientId: 'tk-post', clientSecret: secret(), authMethod: 'client_secret_post' },
    public: { clientId: 'tk-public', authMethod: 'none' },
    clientCredentials: { clientId: 'tk-cc', clientSecret: secret(), authMethod: 'client_secret_basic' },
    introspector: { clientId: 'tk-introspector', clientSecret: secret(), authMethod: 'client_secret_basic' },
  };
  const refreshClient = (c: OAuthClientCredentials) => ({
    client_id: c.clientId,
    ...(c.clientSecret ? { client_secret: c.clientSecret } : {}),
    token_endpoint_auth_method: c.authMethod,
    grant_types: [CIBA_GRANT_TYPE, 'refresh_token'],
    response_types: [],
    redirect_uris: [],
    backchannel_token_delivery_mode: 'poll',
    scope: 'openid offline_access api',
  });
  const serviceClient = (c: OAuthClientCredentials) => ({
    client_id: c.clientId,
    client_secret: c.clientSecret,
    token_endpoint_auth_method: c.authMethod,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope: 'api',
  });

  let counters = emptyCounters();

  const storage = new MemoryStore();
  const configuration: Record<string, unknown> = {
    adapter: (model: string) => storage.adapterFor(model),
    clients: [
      refreshClient(clients.basic),
      refreshClient(clients.post),
      refreshClient(clients.public),
      serviceClient(clients.clientCredentials),
      serviceClient(clients.introspector),
      ...(opts.extraClients ?? []),
    ],
    jwks: { keys: [rs256Jwk()] },
    cookies: { keys: [secret()] },
    scopes: ['openid', 'offline_access', 'api'],
    claims: { openid: ['sub'] },
    findAccount: async (_ctx: unknown, sub: string) => ({
      accountId: sub,
      claims: async () => ({ sub }),
    }),
    rotateRefreshToken: rotate,
    ttl: {
      AccessToken: () => accessTokenTtl,
      ClientCredentials: () => accessTokenTtl,
      RefreshToken: () => refreshTokenTtl,
      Grant: () => refreshTokenTtl,
      IdToken: () => 3600,
      BackchannelAuthenticationRequest: () => 600,
      Interaction: () => 600,
      Session: () => refreshTokenTtl,
      AuthorizationCode: () => 60,
      DeviceCode: () => 600,
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: async () => true },
      revocation: {
        enabled: true,
        allowedPolicy: async (_ctx: unknown, client: { clientId: string }, token: { clientId?: string }) =>
          token.clientId === client.clientId,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => undefined,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx: unknown, indicator: string) => {
          if (indicator !== apiResource) throw new oidcErrors.InvalidTarget();
          return {
            scope: 'api',
            audience: apiResource,
            accessTokenFormat: 'opaque',
            accessTokenTTL: accessTokenTtl,
          };
        },
      },
      ciba: {
        enabled: true,
        deliveryModes: ['poll'],
        processLoginHint: async (_ctx: unknown, hint: string) => hint,
        processLoginHintToken: async () => undefined,
        verifyUserCode: async () => undefined,
        validateBindingMessage: async () => undefined,
        validateRequestContext: async () => undefined,
        // Approve at once: the "end-user" consents to everything requested.
        triggerAuthenticationDevice: async (
          _ctx: unknown,
          request: BackchannelAuthenticationRequestModel,
          account: { accountId: string },
        ) => {
          const grant = new provider.Grant({ accountId: account.accountId, clientId: request.clientId });
          if (request.scope) grant.addOIDCScope(request.scope);
          const resources = request.resource === undefined ? [] : [request.resource].flat();
          for (const resource of resources) grant.addResourceScope(resource, request.scope ?? '');
          await grant.save();
          await provider.backchannelResult(request, grant);
        },
      },
    },
  };

  const provider = new Provider(issuer, configuration);

  const recordError = (event: string) => (ctx: OidcContextLike, err: OidcErrorLike) => {
    const grantType = ctx?.oidc?.params?.grant_type;
    counters.errors.push({
      event,
      error: err?.error ?? err?.name ?? 'unknown',
      description: err?.error_description ?? err?.message,
      detail: err?.error_detail,
      grantType: typeof grantType === 'string' ? grantType : undefined,
      clientId: ctx?.oidc?.client?.clientId,
      at: Date.now(),
    });
  };
  provider.on('grant.success', (ctx: OidcContextLike) => {
    const type = String(ctx?.oidc?.params?.grant_type ?? 'unknown');
    counters.grants[type] = (counters.grants[type] ?? 0) + 1;
  });
  provider.on('grant.error', (ctx: OidcContextLike, err: OidcErrorLike) => {
    recordError('grant.error')(ctx, err);
    if (err?.error === 'invalid_grant') {
      counters.invalidGrant += 1;
      if (err.error_detail === 'refresh token already used') counters.refreshTokenReuse += 1;
    }
  });
  provider.on('grant.revoked', () => {
    counters.grantsRevoked += 1;
  });
  for (const event of [
    'server_error',
    'introspection.error',
    'revocation.error',
    'backchannel_authentication.error',
    'backchannel.error',
    'discovery.error',
    'jwks.error',
    'userinfo.error',
  ]) {
    provider.on(event, recordError(event));
  }

  handler = provider.callback();

  const discovery = (await (
    await fetch(`${issuer}/.well-known/openid-configuration`)
  ).json()) as ServerMetadata;
  const tokenEndpoint = String(discovery.token_endpoint);
  const introspectionEndpoint = String(discovery.introspection_endpoint);
  const revocationEndpoint = String(discovery.revocation_endpoint);
  const backchannelEndpoint = String(discovery.backchannel_authentication_endpoint);

  async function issueRefreshToken(
    clientKey: RefreshClientKey,
    scope: string = DEFAULT_REFRESH_SCOPE,
    options: IssueRefreshTokenOptions = {},
  ): Promise<IssuedTokens> {
    const client = clients[clientKey];
    if (!client) throw new Error(`unknown refresh client "${clientKey}"`);
    const params: Record<string, string> = { scope, login_hint: options.accountId ?? DEFAULT_ACCOUNT_ID };
    if (options.resource) params.resource = options.resource;
    const auth = await postForm(backchannelEndpoint, client, params);
    const authReqId = auth.json.auth_req_id;
    if (auth.status !== 200 || typeof authReqId !== 'string') {
      throw new Error(
        `CIBA request for ${client.clientId} failed: ${auth.status} ${JSON.stringify(auth.json)}`,
      );
    }
    const tokenParams: Record<string, string> = { grant_type: CIBA_GRANT_TYPE, auth_req_id: authReqId };
    const token = await postForm(tokenEndpoint, client, tokenParams);
    const { access_token, refresh_token, expires_in, id_token, token_type } = token.json;
    if (token.status !== 200 || typeof access_token !== 'string' || typeof refresh_token !== 'string') {
      throw new Error(
        `CIBA token call for ${client.clientId} failed: ${token.status} ${JSON.stringify(token.json)}`,
      );
    }
    return {
      accessToken: access_token,
      refreshToken: refresh_token,
      expiresIn: Number(expires_in),
      scope: typeof token.json.scope === 'string' ? token.json.scope : undefined,
      idToken: typeof id_token === 'string' ? id_token : undefined,
      tokenType: String(token_type),
    };
  }

  async function introspect(
    token: string,
    tokenTypeHint?: 'access_token' | 'refresh_token',
  ): Promise<IntrospectionResult> {
    const params: Record<string, string> = { token };
    if (tokenTypeHint) params.token_type_hint = tokenTypeHint;
    const res = await postForm(introspectionEndpoint, clients.introspector, params);
    if (res.status !== 200)
      throw new Error(`introspection failed: ${res.status} ${JSON.stringify(res.json)}`);
    return res.json as IntrospectionResult;
  }

  function metadataVia(baseUrl: string): ServerMetadata {
    const base = baseUrl.replace(/\/$/, '');
    const out: Record<string, unknown> = { ...discovery };
    for (const [key, value] of Object.entries(discovery)) {
      if (key !== 'issuer' && typeof value === 'string' && value.startsWith(`${issuer}/`)) {
        out[key] = base + value.slice(issuer.length);
      }
    }
    return out as ServerMetadata;
  }

  let stopped: Promise<void> | undefined;
  return {
    issuer,
    port,
    tokenEndpoint,
    introspectionEndpoint,
    revocationEndpoint,
    apiResource,
    clients,
    provider,
    get accessTokenTtl() {
      return accessTokenTtl;
    },
    get counters(): OAuthCounters {
      return structuredClone(counters);
    },
    issueRefreshToken,
    introspect,
    metadataVia,
    setAccessTokenTtl(seconds: number) {
      accessTokenTtl = seconds;
    },
    grantCount(grantType: string) {
      return counters.grants[grantType] ?? 0;
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

/** Closes a server and every connection it holds, kept-alive ones included. */
export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/**
 * The registration body of an `oauth2.refresh_token` credential of the `basic` client
 * (`client_secret_basic`) holding `refreshToken`, refreshed at least 1 s before expiry.
 */
export function basicRefreshTokenCredential(server: OAuthServer, name: string, refreshToken: string) {
  return {
    kind: 'oauth2.refresh_token',
    name,
    issuer: server.issuer,
    clientId: server.clients.basic.clientId,
    clientAuth: 'client_secret_basic',
    clientSecret: server.clients.basic.clientSecret,
    refreshToken,
    policy: { minBufferSeconds: 1 },
  };
}
