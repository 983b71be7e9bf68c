import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedApiKey, CredentialView, EventBody, Page, TokenBody } from '../support/api-types.js';
import { type OAuthServer, startOAuthServer } from '../support/oauth-server.js';
import { TEST_ADMIN_KEY, TEST_API_KEY_HMAC_KEY } from '../support/processes.js';
import { dumpRedis, leakedSecrets } from '../support/redis-dump.js';
import { type Stack, startStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

/**
 * Issue 3, acceptance 6: a full lifecycle (register, several refreshes with rotating refresh
 * tokens, a failure, revocation, API keys created and used) with recognisable secrets, then a scan
 * of every Redis key and value (BullMQ job data included), the captured logs of api and worker,
 * and the OpenAPI document: no secret anywhere.
 */
describe('secret hygiene over a credential lifecycle', () => {
  let stack: Stack;
  let oauth: OAuthServer;

  beforeAll(async () => {
    oauth = await startOAuthServer({ accessTokenTtl: 3, rotateRefreshToken: true });
    // Debug logs: the most verbose the services get, so the scan covers everything they can say.
    stack = await startStack({ name: 'hyg', env: { TK_LOG_LEVEL: 'debug' } });
  });

  afterAll(async () => {
    await stack?.stop();
    await oauth?.stop();
  });

  it('leaves no secret in Redis, job data, logs or the OpenAPI document', async () => {
    const admin = stack.admin;
    const secrets = new Set<string>([TEST_ADMIN_KEY, TEST_API_KEY_HMAC_KEY]);
    const issued = await oauth.issueRefreshToken('basic');
    const { clientId, clientSecret } = oauth.clients.basic;
    for (const s of [issued.refreshToken, issued.accessToken, clientSecret]) secrets.add(s);

    const key = await admin.post<CreatedApiKey>('/v1/api-keys', {
      name: 'hygiene',
      scopes: ['credentials:read', 'credentials:write', 'token:read', 'events:read'],
    });
    expect(key.status).toBe(201);
    secrets.add(key.body.key);
    const client = stack.client({ authorization: `Bearer ${key.body.key}` });

    const supplied = `SUPPLIED-access-token-${'s'.repeat(16)}`;
    secrets.add(supplied);
    const cred = await client.post<CredentialView>('/v1/credentials', {
      kind: 'oauth2.refresh_token',
      name: 'hygiene',
      tokenEndpoint: oauth.tokenEndpoint,
      clientId,
      clientAuth: 'client_secret_basic',
      clientSecret,
      refreshToken: issued.refreshToken,
      accessToken: supplied,
      expiresIn: 2,
      policy: { minBufferSeconds: 1 },
    });
    expect(cred.status, JSON.stringify(cred.body)).toBe(201);
    const id = cred.body.id;

    // Several refreshes; every token served is a secret to look for.
    await waitFor(
      async () => {
        const token = await client.get<TokenBody>(`/v1/credentials/${id}/token?minTtl=1`);
        if (token.status === 200) secrets.add(token.body.accessToken);
        return token.status === 200 && token.body.tokenVersion >= 4;
      },
      { timeoutMs: 30_000, intervalMs: 300, message: 'three refreshes' },
    );

    // A failure: a wrong client secret (itself a recognisable secret) makes the refresh permanent-fail.
    const wrongSecret = `WRONG-client-secret-${'w'.repeat(16)}`;
    secrets.add(wrongSecret);
    expect((await client.patch(`/v1/credentials/${id}`, { clientSecret: wrongSecret })).status).toBe(200);
    await waitFor(
      async () =>
        (await client.get<CredentialView>(`/v1/credentials/${id}`)).body.state === 'reauth_required',
      {
        timeoutMs: 20_000,
        message: 'credential needs re-authentication after a bad client secret',
      },
    );
    const failed = await client.get<TokenBody>(`/v1/credentials/${id}/token?minTtl=1`);
    expect(failed.status).toBeLessThan(600);

    // Bad input quoting a secret must not echo it back in a log line either.
    const echoed = `ECHOED-refresh-token-${'e'.repeat(16)}`;
    secrets.add(echoed);
    await client.post('/v1/credentials', { kind: 'nope', refreshToken: echoed });
    await client.patch(`/v1/credentials/${id}`, { refreshToken: echoed, unknownField: echoed });

    expect((await client.delete(`/v1/credentials/${id}`)).status).toBe(204);
    expect((await admin.delete(`/v1/api-keys/${key.body.id}`)).status).toBe(204);
    // Both took effect: the key is refused, the deletion is in the credential's history.
    await waitFor(async () => (await client.get(`/v1/credentials/${id}`)).status === 401, {
      message: 'revoked key refused',
    });
    await waitFor(
      async () =>
        (await admin.get<Page<EventBody>>(`/v1/credentials/${id}/events?limit=1000`)).body.items?.some(
          (e) => e.type === 'credential.revoked',
        ),
      { message: 'deletion recorded' },
    );

    const events = await admin.get<Page<EventBody>>(`/v1/credentials/${id}/events?limit=1000`);
    const docs = await fetch(`${stack.url}/docs-json`, {
      headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` },
    }).then((r) => r.text());
    const stored = await dumpRedis(stack.redis.url);
    const logs = stack.logs();

    expect(secrets.size).toBeGreaterThanOrEqual(10);
    expect(stored).toContain('token-refresh'); // BullMQ's keys, job data included, were scanned
    expect(stored).toContain('apikey:'); // and the API key records (hashes only)
    expect(logs).toContain('token refreshed');
    expect(docs).toContain('/v1/credentials');
    expect(leakedSecrets(stored, secrets), 'Redis').toEqual([]);
    expect(leakedSecrets(logs, secrets), 'logs').toEqual([]);
    expect(leakedSecrets(JSON.stringify(events.body), secrets), 'events').toEqual([]);
    expect(leakedSecrets(docs, secrets), 'OpenAPI').toEqual([]);
    // Nothing that merely looks like a key or a bearer token either.
    expect(logs).not.toMatch(/tk_[A-Za-z0-9_-]{20,}/);
    expect(docs).not.toMatch(/tk_[A-Za-z0-9_-]{20,}|Bearer [A-Za-z0-9]/);
  });
});
