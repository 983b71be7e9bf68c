import { createServer, type IncomingMessage, type Server } from 'node:http';
import { Redis } from 'ioredis';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeySpace } from '#store';
import type { CreatedApiKey, CredentialView, Problem } from '../support/api-types.js';
import {
  type AssertionGrantLog,
  JWT_TOKEN_TYPE,
  registerAssertionGrants,
  TOKEN_EXCHANGE,
} from '../support/assertion-grants.js';
import { type OAuthServer, startOAuthServer } from '../support/oauth-server.js';
import { type Stack, startStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

/** An HTTP server on 127.0.0.1 that records every request: where an attacker would point a credential. */
async function startCapture(): Promise<{ url: string; requests: string[]; stop(): Promise<void> }> {
  const requests: string[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      requests.push(`${req.method} ${req.url} ${JSON.stringify(req.headers)} ${body}`);
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'invalid_grant' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/token`,
    requests,
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/**
 * Issue 10, finding 2 and 3 replayed against the real processes: a key with `credentials:write`
 * cannot point another credential's secrets at its own server (PATCH without the secrets is a 422;
 * a Redis `HSET` of the stored settings ends the next refresh with DESTINATION_MISMATCH), and cannot
 * take another credential's token (or a JWT signed with the namespace's keys) without `token:read`.
 */
describe('secrets bound to their destination (e2e)', () => {
  let stack: Stack;
  let conn: Redis;
  let oauth: OAuthServer;
  let exchanges: AssertionGrantLog;
  let capture: Awaited<ReturnType<typeof startCapture>>;
  let mintKey: string;
  let writer: string;
  let reader: string;
  const NS = 'ns-bind';
  const EXCHANGE_SECRET = 'exchange-secret-0123456789';
  const admin = () => stack.admin;
  const as = (key: string) => stack.client({ authorization: `Bearer ${key}` });

  beforeAll(async () => {
    const mint = await generateKeyPair('ES256', { extractable: true });
    mintKey = JSON.stringify({ ...(await exportJWK(mint.privateKey)), kid: 'mint-1' });
    oauth = await startOAuthServer({
      accessTokenTtl: 3600,
      extraClients: [
        {
          client_id: 'tk-exchange',
          client_secret: EXCHANGE_SECRET,
          token_endpoint_auth_method: 'client_secret_basic',
          grant_types: [TOKEN_EXCHANGE],
          response_types: [],
          redirect_uris: [],
          scope: 'api',
        },
      ],
    });
    exchanges = registerAssertionGrants(oauth, {
      jwks: { keys: [{ ...(await exportJWK(mint.publicKey)), kid: 'mint-1' }] },
      issuers: [],
    });
    capture = await startCapture();
    stack = await startStack({ name: 'binding' });
    conn = new Redis(stack.redis.url, { maxRetriesPerRequest: null });
    const key = async (scopes: string[]) => {
      const res = await admin().post<CreatedApiKey>('/v1/api-keys', {
        name: scopes.join('+'),
        namespace: NS,
        scopes,
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.key;
    };
    writer = await key(['credentials:write', 'credentials:read']);
    reader = await key(['credentials:write', 'credentials:read', 'token:read']);
  });

  afterAll(async () => {
    conn?.disconnect();
    await stack?.stop();
    await capture?.stop();
    await oauth?.stop();
  });

  const owner = () => as(reader);
  const get = async (id: string) => (await owner().get<CredentialView>(`/v1/credentials/${id}`)).body;
  const waitForVersion = (id: string, version: number) =>
    waitFor(
      async () => {
        const c = await get(id);
        return c.tokenVersion >= version && c.state === 'active' ? c : undefined;
      },
      { timeoutMs: 20_000, message: `credential ${id} at token version ${version}` },
    );
  const register = async (key: string, body: Record<string, unknown>) => {
    const res = await as(key).post<CredentialView & Problem>('/v1/credentials', body);
    return res;
  };
  const refreshTokenCredential = async () => {
    const issued = await oauth.issueRefreshToken('basic');
    const res = await register(reader, {
      kind: 'oauth2.refresh_token',
      name: 'victim',
      tokenEndpoint: oauth.tokenEndpoint,
      clientId: oauth.clients.basic.clientId,
      clientSecret: oauth.clients.basic.clientSecret,
      refreshToken: issued.refreshToken,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    await waitForVersion(res.body.id, 1);
    return res.body.id;
  };

  it('(a) a PATCH of tokenEndpoint without the secrets is refused; nothing reaches the new endpoint', async () => {
    const id = await refreshTokenCredential();
    const patched = await as(writer).patch<Problem>(`/v1/credentials/${id}`, { tokenEndpoint: capture.url });
    expect(patched.status).toBe(422);
    expect(patched.body.errors?.[0]?.field).toBe('refreshToken');
    expect(patched.body.detail).toContain(
      "tokenEndpoint changes where this credential's secrets are sent: supply refreshToken and clientSecret again",
    );
    const refreshes = oauth.grantCount('refresh_token');
    expect((await as(writer).post(`/v1/credentials/${id}/refresh`)).status).toBe(202);
    const after = await waitForVersion(id, 2);
    expect(after.grant.tokenEndpoint).toBe(oauth.tokenEndpoint);
    expect(oauth.grantCount('refresh_token')).toBeGreaterThan(refreshes);
    expect(capture.requests).toEqual([]);
  });

  it('(b) with the secrets supplied again the PATCH is accepted and the new endpoint is used', async () => {
    const id = await refreshTokenCredential();
    const patched = await as(writer).patch<CredentialView>(`/v1/credentials/${id}`, {
      tokenEndpoint: capture.url,
      refreshToken: 'writers-own-refresh-token',
      clientSecret: 'writers-own-secret',
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body.grant.tokenEndpoint).toBe(capture.url);
    expect((await as(writer).post(`/v1/credentials/${id}/refresh`)).status).toBe(202);
    await waitFor(() => capture.requests.length > 0, { timeoutMs: 20_000, message: 'capture request' });
    expect(capture.requests[0]).toContain('writers-own-refresh-token');
    expect(capture.requests[0]).not.toContain(oauth.clients.basic.clientSecret);
    capture.requests.length = 0;
  });

  it('(c) a Redis HSET of the stored tokenEndpoint ends the next refresh with DESTINATION_MISMATCH, nothing sent', async () => {
    const res = await register(reader, {
      kind: 'oauth2.client_credentials',
      name: 'tampered',
      tokenEndpoint: oauth.tokenEndpoint,
      clientId: oauth.clients.clientCredentials.clientId,
      clientSecret: oauth.clients.clientCredentials.clientSecret,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const id = res.body.id;
    await waitForVersion(id, 1);
    // The credential hash (libs/store/src/keys.ts); the projection is the JSON in its field `p`.
    const key = new KeySpace(stack.prefix, process.env.TK_TEST_CLUSTER === '1' ? 4 : 1).credential(id);
    const projection = JSON.parse((await conn.hget(key, 'p'))!) as { grant: { tokenEndpoint: string } };
    projection.grant.tokenEndpoint = capture.url;
    await conn.hset(key, 'p', JSON.stringify(projection));
    expect((await as(writer).post(`/v1/credentials/${id}/refresh`)).status).toBe(202);
    const failed = await waitFor(
      async () => {
        const c = await get(id);
        return c.state === 'reauth_required' ? c : undefined;
      },
      { timeoutMs: 20_000, message: 'the refresh to stop' },
    );
    expect(failed.lastFailure).toMatchObject({ class: 'permanent', code: 'DESTINATION_MISMATCH' });
    expect(failed.lastFailure?.message).toContain('re-supply the secrets');
    expect(capture.requests).toEqual([]);
  });

  const exchangeBody = (subject: Record<string, string>) => ({
    kind: 'oauth2.token_exchange',
    tokenEndpoint: oauth.tokenEndpoint,
    clientId: 'tk-exchange',
    clientSecret: EXCHANGE_SECRET,
    ...subject,
  });

  it('(d) token exchange from a credential needs token:read', async () => {
    const source = await register(reader, {
      kind: 'oauth2.client_credentials',
      name: 'source',
      tokenEndpoint: oauth.tokenEndpoint,
      clientId: oauth.clients.clientCredentials.clientId,
      clientSecret: oauth.clients.clientCredentials.clientSecret,
    });
    expect(source.status).toBe(201);
    await waitForVersion(source.body.id, 1);
    const refused = await register(writer, exchangeBody({ subjectCredentialId: source.body.id }));
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('TOKEN_SOURCE_FORBIDDEN');
    expect(refused.body.errors?.[0]?.field).toBe('subjectCredentialId');

    const ok = await register(reader, exchangeBody({ subjectCredentialId: source.body.id }));
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    await waitForVersion(ok.body.id, 1);
    expect(exchanges.tokenExchange.length).toBeGreaterThan(0);
    // Sending that source's token somewhere else needs token:read as well.
    const moved = await as(writer).patch<Problem>(`/v1/credentials/${ok.body.id}`, {
      tokenEndpoint: capture.url,
      clientSecret: 'x',
    });
    expect(moved.status).toBe(403);
    expect(moved.body.errors?.[0]?.field).toBe('subjectCredentialId');
    expect(capture.requests).toEqual([]);
  });

  it('(e) a jwt.mint credential (signed with the namespace key) as a source needs token:read', async () => {
    const mint = await register(reader, {
      kind: 'jwt.mint',
      name: 'minted',
      issuer: 'tokenkeeper-test',
      subject: 'svc-1',
      audience: 'https://api.example',
      ttlSeconds: 600,
      privateKey: mintKey,
    });
    expect(mint.status, JSON.stringify(mint.body)).toBe(201);
    await waitForVersion(mint.body.id, 1);
    const subject = { subjectCredentialId: mint.body.id, subjectTokenType: JWT_TOKEN_TYPE };
    const refused = await register(writer, exchangeBody(subject));
    expect(refused.status).toBe(403);
    expect(refused.body.errors?.[0]?.field).toBe('subjectCredentialId');
    const vault = await register(writer, {
      kind: 'vault.jwt_login',
      vaultAddr: capture.url.replace('/token', ''),
      role: 'r',
      jwtCredentialId: mint.body.id,
    });
    expect(vault.status).toBe(403);
    expect(vault.body.errors?.[0]?.field).toBe('jwtCredentialId');
    // A PATCH of the JWT's audience needs the signing key again.
    const retarget = await as(writer).patch<Problem>(`/v1/credentials/${mint.body.id}`, {
      audience: 'https://attacker.example',
    });
    expect(retarget.status).toBe(422);
    expect(retarget.body.errors?.[0]?.field).toBe('privateKey');

    const ok = await register(reader, exchangeBody(subject));
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    await waitForVersion(ok.body.id, 1);
    expect(exchanges.tokenExchange.at(-1)).toMatchObject({ sub: 'svc-1', subjectTokenType: JWT_TOKEN_TYPE });
    expect(capture.requests).toEqual([]);
  });

  it('(f) a discovered token endpoint the outbound policy refuses is a permanent OUTBOUND_REFUSED naming the rule', async () => {
    // An issuer the policy allows whose discovery document points at the cloud metadata address.
    const discovery = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          issuer: `http://127.0.0.1:${(discovery.address() as { port: number }).port}`,
          token_endpoint: 'http://169.254.169.254/token',
        }),
      );
    });
    await new Promise<void>((r) => discovery.listen(0, '127.0.0.1', r));
    try {
      const res = await register(reader, {
        kind: 'oauth2.client_credentials',
        issuer: `http://127.0.0.1:${(discovery.address() as { port: number }).port}`,
        clientId: 'c',
        clientSecret: 's',
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      const failed = await waitFor(
        async () => {
          const c = await get(res.body.id);
          return c.state === 'reauth_required' ? c : undefined;
        },
        { timeoutMs: 20_000, message: 'the refused endpoint to stop the credential' },
      );
      expect(failed.lastFailure).toMatchObject({ class: 'permanent', code: 'OUTBOUND_REFUSED' });
      expect(failed.lastFailure?.message).toContain('rule metadata');
    } finally {
      await new Promise<void>((r) => discovery.close(() => r()));
    }
  });
});
