import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY_SCOPES } from '../../apps/api/src/auth/api-keys.js';
import type {
  ApiKeyView,
  CreatedApiKey,
  CreatedSubscription,
  CredentialView,
  EventBody,
  Page,
  PoolView,
  Problem,
} from '../support/api-types.js';
import { type OAuthServer, startOAuthServer } from '../support/oauth-server.js';
import { type AppProcess, apiClient, TEST_ADMIN_KEY } from '../support/processes.js';
import { type Stack, startStack } from '../support/stack.js';
import { sleep, waitFor } from '../support/wait.js';

interface OpenApiDoc {
  paths: Record<string, Record<string, { 'x-required-scope'?: string }>>;
}

/** Every scope but admin, from the list the API itself checks (a new scope joins the matrix by itself). */
const SCOPES: string[] = API_KEY_SCOPES.filter((s) => s !== 'admin');

/**
 * Issue 3, acceptance 1, 2, 4, 5: every route refuses callers without a key (401), with the wrong
 * scope (403) and from another namespace (404); revocation reaches both api replicas within a
 * second; rate limits, Bull Board auth, the outbound URL policy and swapped ciphertexts.
 */
describe('API security', () => {
  let stack: Stack;
  let oauth: OAuthServer;
  let api: AppProcess;
  let replica: AppProcess;
  let limited: AppProcess;
  const admin = () => stack.admin;
  const as = (key: string, base = api.url!) => apiClient(base, { authorization: `Bearer ${key}` });

  beforeAll(async () => {
    oauth = await startOAuthServer({ accessTokenTtl: 3600 });
    stack = await startStack({ name: 'sec' });
    api = stack.api;
    [replica, limited] = await Promise.all([
      stack.start('api', {}, 'api-2'),
      stack.start(
        'api',
        {
          TK_RATE_LIMIT_TOKEN_PER_SECOND: '1',
          TK_RATE_LIMIT_TOKEN_BURST: '3',
          TK_RATE_LIMIT_WRITE_PER_SECOND: '1',
          TK_RATE_LIMIT_WRITE_BURST: '2',
          TK_OUTBOUND_ALLOW_PRIVATE: '1',
          TK_OUTBOUND_ALLOW_LOOPBACK: '0',
        },
        'api-limited',
      ),
    ]);
  });

  afterAll(async () => {
    await stack?.stop();
    await oauth?.stop();
  });

  const createKey = async (namespace: string, scopes: string[], name = scopes.join('+')) => {
    const res = await admin().post<CreatedApiKey>('/v1/api-keys', { name, namespace, scopes });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.key).toMatch(/^tk_[A-Za-z0-9_-]{43}$/);
    return res.body;
  };
  const credentialBody = (name: string, tokenEndpoint = oauth.tokenEndpoint) => ({
    kind: 'oauth2.client_credentials',
    name,
    tokenEndpoint,
    clientId: oauth.clients.clientCredentials.clientId,
    clientSecret: oauth.clients.clientCredentials.clientSecret,
    accessToken: `at-${name}-${Math.random().toString(36).slice(2)}`,
    expiresIn: 3600,
  });

  it('answers 401, 403, 404 and 2xx over every route in the OpenAPI document', async () => {
    const adminA = await createKey('ns-a', ['admin']);
    const adminB = await createKey('ns-b', ['admin']);
    const scoped = Object.fromEntries(
      await Promise.all(SCOPES.map(async (s) => [s, (await createKey('ns-a', [s])).key])),
    );
    const allButAdmin = (await createKey('ns-a', SCOPES)).key;
    const cred = await as(adminA.key).post<CredentialView>('/v1/credentials', credentialBody('matrix'));
    expect(cred.status).toBe(201);
    expect(cred.body.namespace).toBe('ns-a');
    const doomed = await as(adminA.key).post<CredentialView>('/v1/credentials', credentialBody('doomed'));
    const throwawayKey = await createKey('ns-a', ['events:read'], 'throwaway');

    const doc = (await admin().get<OpenApiDoc>('/docs-json')).body;
    const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({
        method: method.toUpperCase(),
        path,
        scope: op['x-required-scope'],
      })),
    );
    const guarded = operations.filter((o) => !o.path.startsWith('/health'));
    expect(guarded.length).toBeGreaterThanOrEqual(12);

    const pool = await as(adminA.key).post<PoolView>('/v1/pools', { members: [cred.body.id] });
    const doomedPool = await as(adminA.key).post<PoolView>('/v1/pools', { members: [cred.body.id] });
    const sub = await as(adminA.key).post<CreatedSubscription>('/v1/subscriptions', {
      url: 'http://127.0.0.1:9/hook',
    });
    const doomedSub = await as(adminA.key).post<CreatedSubscription>('/v1/subscriptions', {
      url: 'http://127.0.0.1:9/hook',
    });
    expect([sub.status, doomedSub.status]).toEqual([201, 201]);
    const concrete = (path: string, id: string) => path.replace(/\{[^}]+\}/g, id);
    const idFor = (path: string, forDelete: boolean) => {
      if (path.startsWith('/v1/api-keys')) return throwawayKey.id;
      if (path.startsWith('/v1/pools')) return forDelete ? doomedPool.body.id : pool.body.id;
      if (path.startsWith('/v1/subscriptions')) return forDelete ? doomedSub.body.id : sub.body.id;
      return forDelete ? doomed.body.id : cred.body.id;
    };
    // Routes this test knows how to make succeed; any other route only must not answer 5xx.
    const bodies: Record<string, unknown> = {
      'POST /v1/credentials': credentialBody('matrix-2'),
      'GET /v1/credentials': undefined,
      'GET /v1/credentials/{id}': undefined,
      'PATCH /v1/credentials/{id}': { name: 'renamed' },
      'DELETE /v1/credentials/{id}': undefined,
      'GET /v1/credentials/{id}/token': undefined,
      'POST /v1/credentials/{id}/token/invalidate': { version: 0 },
      'POST /v1/credentials/{id}/refresh': {},
      'GET /v1/credentials/{id}/events': undefined,
      'POST /v1/api-keys': { name: 'made-in-matrix', scopes: ['token:read'] },
      'GET /v1/api-keys': undefined,
      'DELETE /v1/api-keys/{id}': undefined,
      'GET /v1/admin/encryption': undefined,
      'POST /v1/pools': { members: [cred.body.id] },
      'GET /v1/pools': undefined,
      'GET /v1/pools/{id}': undefined,
      'DELETE /v1/pools/{id}': undefined,
      'GET /v1/pools/{id}/token': undefined,
      'POST /v1/subscriptions': { url: 'http://127.0.0.1:9/matrix' },
      'GET /v1/subscriptions': undefined,
      'GET /v1/subscriptions/{id}': undefined,
      'PATCH /v1/subscriptions/{id}': { description: 'renamed in the matrix' },
      'DELETE /v1/subscriptions/{id}': undefined,
      'GET /v1/subscriptions/{id}/deliveries': undefined,
      'POST /v1/subscriptions/{id}/redrive': {},
      'GET /v1/events': undefined,
      'GET /metrics': undefined,
    };
    /** Status and body of a call; a streaming route (SSE) is cut off after its headers. */
    const send = async (key: string | undefined, method: string, path: string, body: unknown) => {
      const withBody = method !== 'GET' && method !== 'DELETE';
      const res = await fetch(`${api.url}${path}`, {
        method,
        headers: {
          ...(key ? { authorization: `Bearer ${key}` } : {}),
          ...(withBody ? { 'content-type': 'application/json' } : {}),
        },
        ...(withBody ? { body: JSON.stringify(body ?? {}) } : {}),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await Promise.race([res.text(), sleep(1_000).then(() => '')]).catch(() => '');
      let parsed: Record<string, unknown> = {};
      try {
        parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      } catch {}
      return { status: res.status, headers: res.headers, body: parsed };
    };

    const unverified: string[] = [];
    for (const op of guarded) {
      const label = `${op.method} ${op.path}`;
      const path = concrete(op.path, idFor(op.path, op.method === 'DELETE'));
      const body = bodies[label];
      const required = op.scope ?? 'admin';

      const anonymous = await send(undefined, op.method, path, body);
      expect(anonymous.status, `${label} without a key`).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(anonymous.headers.get('content-type')).toMatch(/problem\+json/);
      const bogus = await send(`tk_${'x'.repeat(43)}`, op.method, path, body);
      expect(bogus.status, `${label} with an unknown key`).toBe(401);

      const wrongKey = required === 'admin' ? allButAdmin : scoped[SCOPES.find((s) => s !== required)!]!;
      const wrong = await send(wrongKey, op.method, path, body);
      expect(wrong.status, `${label} with the wrong scope`).toBe(403);
      expect((wrong.body as unknown as Problem).code).toBe('FORBIDDEN');

      if (op.path.includes('{')) {
        const other = await send(adminB.key, op.method, path, body);
        // A route this test cannot build a valid body for may answer 400 first; never success.
        if (label in bodies) expect(other.status, `${label} from another namespace`).toBe(404);
        else expect([400, 404, 422], `${label} from another namespace`).toContain(other.status);
      }

      const rightKey = op.path.startsWith('/v1/admin')
        ? TEST_ADMIN_KEY
        : required === 'admin'
          ? adminA.key
          : scoped[required];
      expect(rightKey, `${label} needs unknown scope ${required}`).toBeDefined();
      const right = await send(rightKey, op.method, path, body);
      if (label in bodies) {
        expect(right.status, `${label} with the right key: ${JSON.stringify(right.body)}`).toBeLessThan(300);
        expect(right.status).toBeGreaterThanOrEqual(200);
      } else {
        expect(right.status, `${label} with the right key`).toBeLessThan(500);
        unverified.push(`${label} → ${right.status}`);
      }
    }
    console.info(
      `route matrix: ${guarded.length} routes; success not asserted (body unknown to this test): ${unverified.join(', ') || 'none'}`,
    );

    // Health stays open and says nothing sensitive.
    const health = await apiClient(api.url!, { authorization: '' }).get('/health/ready');
    expect(health.status).toBe(200);
    expect(JSON.stringify(health.body)).not.toMatch(/redis:\/\/|password|tk_/);
  });

  it('lists keys without the key material, and keeps admins to their own namespace', async () => {
    const adminC = await createKey('ns-c', ['admin']);
    const made = await as(adminC.key).post<CreatedApiKey>('/v1/api-keys', {
      name: 'reader',
      scopes: ['token:read'],
    });
    expect(made.status).toBe(201);
    expect(made.body.namespace).toBe('ns-c');
    const elsewhere = await as(adminC.key).post<Problem>('/v1/api-keys', {
      name: 'x',
      namespace: 'ns-a',
      scopes: ['admin'],
    });
    expect(elsewhere.status).toBe(403);
    const listed = await as(adminC.key).get<Page<Record<string, unknown>>>('/v1/api-keys');
    expect(listed.body.items.map((k) => k.namespace)).toEqual(['ns-c', 'ns-c']);
    expect(JSON.stringify(listed.body)).not.toContain(made.body.key);
    expect(JSON.stringify(listed.body)).not.toMatch(/keyHash|tk_/);
    const bad = await admin().post<Problem>('/v1/api-keys', { name: 'x', scopes: ['root'] });
    expect(bad.status).toBe(400);
    expect(bad.body.errors?.[0]?.field).toBe('scopes.0');
  });

  it('refuses a revoked key on every api replica within 1 s', async () => {
    const reader = await createKey('ns-r', ['credentials:read']);
    for (const base of [api.url!, replica.url!])
      expect((await as(reader.key, base).get('/v1/credentials')).status).toBe(200);
    // Keep both replicas' caches warm up to the moment of revocation.
    for (const base of [api.url!, replica.url!]) await as(reader.key, base).get('/v1/credentials');
    const revokedAt = Date.now();
    expect((await admin().delete(`/v1/api-keys/${reader.id}`)).status).toBe(204);
    const refusedAfter: number[] = [];
    for (const base of [api.url!, replica.url!]) {
      await waitFor(async () => (await as(reader.key, base).get('/v1/credentials')).status === 401, {
        timeoutMs: 3_000,
        intervalMs: 20,
        message: `revoked key refused by ${base}`,
      });
      refusedAfter.push(Date.now() - revokedAt);
    }
    console.info(`revoked key refused after ${refusedAfter.join(' ms, ')} ms`);
    expect(Math.max(...refusedAfter)).toBeLessThan(1_000);
    const listed = await admin().get<Page<ApiKeyView>>('/v1/api-keys?namespace=ns-r');
    expect(listed.body.items.find((k) => k.id === reader.id)?.revokedAt).toBeDefined();
  });

  it('rate-limits token reads and writes per key with 429 and Retry-After', async () => {
    const reader = await createKey('ns-l', ['token:read', 'credentials:write']);
    const other = await createKey('ns-l', ['token:read']);
    const client = as(reader.key, limited.url!);
    const writes = [];
    for (let i = 0; i < 4; i++)
      writes.push(await client.post('/v1/credentials', credentialBody(`l${i}`, 'https://10.20.30.40/token')));
    expect(writes.map((w) => w.status)).toEqual([201, 201, 429, 429]);
    const created = writes[0]!.body as { id: string };
    const reads = [];
    for (let i = 0; i < 5; i++) reads.push(await client.get(`/v1/credentials/${created.id}/token`));
    expect(reads.slice(0, 3).map((r) => r.status)).toEqual([200, 200, 200]);
    const throttled = reads[4]!;
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((throttled.body as Problem).code).toBe('RATE_LIMITED');
    // Another key has its own bucket.
    expect((await as(other.key, limited.url!).get(`/v1/credentials/${created.id}/token`)).status).toBe(200);
  });

  it('serves Bull Board at /queues to operator admins only, with HTTP Basic for browsers', async () => {
    const anonymous = await fetch(`${api.url}/queues`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    const basic = (password: string) => ({
      authorization: `Basic ${Buffer.from(`ops:${password}`).toString('base64')}`,
    });
    expect((await fetch(`${api.url}/queues`, { headers: basic(`tk_${'y'.repeat(43)}`) })).status).toBe(401);
    const tenantAdmin = await createKey('ns-q', ['admin']);
    expect((await fetch(`${api.url}/queues`, { headers: basic(tenantAdmin.key) })).status).toBe(403);
    const page = await fetch(`${api.url}/queues`, { headers: basic(TEST_ADMIN_KEY) });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);
    const queues = await fetch(`${api.url}/queues/api/queues`, { headers: basic(TEST_ADMIN_KEY) });
    expect(queues.status).toBe(200);
    expect(await queues.text()).toContain('token-refresh');
    expect((await fetch(`${api.url}/queues/api/queues`)).status).toBe(401);
  });

  it('refuses token endpoints the outbound policy forbids, naming the rule and the field', async () => {
    const refused: [string, string][] = [
      ['http://169.254.169.254/latest/meta-data/iam', 'metadata'],
      ['http://[::ffff:169.254.169.254]/', 'metadata'],
      ['http://[::ffff:a9fe:a9fe]/token', 'metadata'],
      ['https://metadata.google.internal/token', 'metadata'],
      ['https://169.254.10.1/token', 'link_local'],
      ['https://10.0.0.7/token', 'private'],
      ['https://192.168.1.10/token', 'private'],
      ['https://[fd00::7]/token', 'private'],
      ['http://idp.example.com/token', 'https_required'],
    ];
    for (const [url, rule] of refused) {
      const res = await admin().post<Problem>('/v1/credentials', credentialBody('bad', url));
      expect(res.status, url).toBe(422);
      expect(res.body.code).toBe('OUTBOUND_URL_REFUSED');
      expect(res.body.rule, url).toBe(rule);
      expect(res.body.errors?.[0]?.field).toBe('tokenEndpoint');
    }
    const viaIssuer = await admin().post<Problem>('/v1/credentials', {
      ...credentialBody('bad-issuer'),
      tokenEndpoint: undefined,
      issuer: 'http://169.254.169.254/',
    });
    expect(viaIssuer.status).toBe(422);
    expect(viaIssuer.body.errors?.[0]?.field).toBe('issuer');
    const patch = await admin().post<CredentialView>('/v1/credentials', credentialBody('ok'));
    const patched = await admin().patch<Problem>(`/v1/credentials/${patch.body.id}`, {
      tokenEndpoint: 'https://10.1.1.1/t',
    });
    expect(patched.status).toBe(422);

    // Allowed with the matching configuration: this api allows loopback (test default) and a
    // name that resolves to loopback; the other allows private ranges but not loopback.
    const port = new URL(oauth.tokenEndpoint).port;
    expect(
      (await admin().post('/v1/credentials', credentialBody('loop', `http://localhost:${port}/token`)))
        .status,
    ).toBe(201);
    const lim = apiClient(limited.url!);
    expect(
      (await lim.post('/v1/credentials', credentialBody('private', 'https://10.0.0.7/token'))).status,
    ).toBe(201);
    await sleep(1_100); // the limited api's write bucket refills at 1/s
    const loopRefused = await lim.post<Problem>(
      '/v1/credentials',
      credentialBody('loop', `http://localhost:${port}/token`),
    );
    expect(loopRefused.status).toBe(422);
    expect(loopRefused.body.rule).toBe('loopback');
  });

  it('refuses a ciphertext copied from another credential and marks the credential', async () => {
    const x = (await admin().post<CredentialView>('/v1/credentials', credentialBody('x'))).body.id;
    const y = (await admin().post<CredentialView>('/v1/credentials', credentialBody('y'))).body.id;
    const r = new Redis(stack.redis.url);
    try {
      const keyOf = (id: string) => `${stack.prefix}:{p0}:c:${id}`;
      const [xs, xt] = await r.hmget(keyOf(x), 's', 't');
      expect(xs).toMatch(/^eyJ/);
      await r.hset(keyOf(y), 't', xt!);
      const token = await admin().get<Problem & { detail: string }>(`/v1/credentials/${y}/token`);
      expect(token.status).toBe(503);
      expect(token.body.code).toBe('SECRET_DECRYPTION_FAILED');
      expect(token.body.detail).toMatch(/belongs to another credential/);

      await r.hset(keyOf(y), 's', xs!);
      expect((await admin().post(`/v1/credentials/${y}/refresh`)).status).toBe(202);
      await waitFor(
        async () =>
          (await admin().get<CredentialView>(`/v1/credentials/${y}`)).body.state === 'reauth_required',
        {
          timeoutMs: 15_000,
          message: 'credential with a swapped ciphertext marked reauth_required',
        },
      );
      const view = await admin().get<CredentialView>(`/v1/credentials/${y}`);
      expect(view.body.lastFailure).toMatchObject({ code: 'SECRET_DECRYPTION_FAILED', class: 'permanent' });
      const events = await admin().get<Page<EventBody>>(`/v1/credentials/${y}/events`);
      expect(events.body.items.map((e) => e.type)).toContain('credential.reauth_required');
      // X itself is untouched.
      expect((await admin().get(`/v1/credentials/${x}/token`)).status).toBe(200);
    } finally {
      r.disconnect();
    }
  });
});
