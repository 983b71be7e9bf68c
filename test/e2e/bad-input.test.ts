import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CredentialView, Problem } from '../support/api-types.js';
import { type ApiClient, type Stack, startStack } from '../support/stack.js';

const JSON_HEADERS = { 'content-type': 'application/json' };

/** Issue 2, acceptance 7: bad input gets a 4xx problem that names what to fix, and the API keeps serving. */
describe('bad input', () => {
  let stack: Stack;
  let client: ApiClient;

  beforeAll(async () => {
    stack = await startStack({ name: 'bad', workers: 0 });
    client = stack.admin;
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const post = (body: string | Uint8Array, headers: Record<string, string> = JSON_HEADERS) =>
    client.raw('POST', '/v1/credentials', body, headers) as unknown as Promise<{
      status: number;
      headers: Headers;
      body: Problem;
    }>;

  const fieldsOf = (p: Problem) => (p.errors ?? []).map((e) => e.field);

  it.each([
    ['malformed JSON', '{"kind": "oauth2.refresh_token",', 400, undefined],
    ['a JSON array', '[1,2,3]', 400, undefined],
    [
      'an unknown kind',
      JSON.stringify({ kind: 'oauth2.magic', tokenEndpoint: 'https://idp.example/token' }),
      400,
      'kind',
    ],
    ['a missing kind', JSON.stringify({ tokenEndpoint: 'https://idp.example/token' }), 400, 'kind'],
    [
      'a wrong type',
      JSON.stringify({
        kind: 'oauth2.client_credentials',
        clientId: 42,
        tokenEndpoint: 'https://idp.example/token',
      }),
      400,
      'clientId',
    ],
    ['an unknown field', JSON.stringify({ kind: 'oauth2.client_credentials', colour: 'blue' }), 400, 'body'],
    [
      'a non-URL endpoint',
      JSON.stringify({ kind: 'oauth2.client_credentials', tokenEndpoint: 'file:///etc/passwd' }),
      400,
      'tokenEndpoint',
    ],
    [
      'a negative policy',
      JSON.stringify({ kind: 'oauth2.client_credentials', policy: { fraction: -1 } }),
      400,
      'policy.fraction',
    ],
  ])('answers %s with a 4xx problem naming the field', async (_, body, status, field) => {
    const res = await post(body);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.title).toBeTruthy();
    if (field) expect(fieldsOf(res.body)).toContain(field);
  });

  it('names the missing secret for the kind (422)', async () => {
    const res = await post(
      JSON.stringify({ kind: 'oauth2.refresh_token', tokenEndpoint: 'http://127.0.0.1:9/token' }),
    );
    expect(res.status).toBe(422);
    expect(fieldsOf(res.body)).toEqual(['refreshToken']);
    const noSecret = await post(
      JSON.stringify({
        kind: 'oauth2.client_credentials',
        tokenEndpoint: 'http://127.0.0.1:9/token',
        clientId: 'svc',
      }),
    );
    expect(noSecret.status).toBe(422);
    expect(fieldsOf(noSecret.body)).toEqual(['clientSecret']);
  });

  it('refuses a 1 MiB body with 413 and a body that is not JSON with 415', async () => {
    const huge = JSON.stringify({ kind: 'oauth2.client_credentials', name: 'x'.repeat(1024 * 1024) });
    expect((await post(huge)).status).toBe(413);
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const res = await post('kind=oauth2.client_credentials', { 'content-type': type });
      expect(res.status, type).toBe(415);
      expect(res.body.detail, type).toMatch(/application\/json/);
    }
  });

  it('answers bad ids and query parameters with 4xx, never 5xx', async () => {
    for (const path of [
      '/v1/credentials/..%2F..%2Fetc',
      '/v1/credentials/cred_x',
      `/v1/credentials/${'a'.repeat(300)}`,
    ]) {
      const res = await client.get<Problem>(path);
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.status, path).toBeLessThan(500);
    }
    const ttl = await client.get<Problem>('/v1/credentials/cred_abcdefghijklmnop/token?minTtl=soon');
    expect(ttl.status).toBe(400);
    expect(fieldsOf(ttl.body)).toContain('minTtl');
    const list = await client.get<Problem>('/v1/credentials?limit=100000');
    expect(list.status).toBe(400);
    expect(fieldsOf(list.body)).toContain('limit');
    const cursor = await client.get<Problem>('/v1/credentials?cursor=bm9wZQ');
    expect(cursor.status).toBe(400);
  });

  it('keeps serving: health is ready and a valid registration still works', async () => {
    expect(stack.api.exitCode).toBeNull();
    expect((await fetch(`${stack.url}/health/ready`)).status).toBe(200);
    const ok = await client.post<CredentialView>('/v1/credentials', {
      kind: 'oauth2.client_credentials',
      tokenEndpoint: 'http://127.0.0.1:9/oauth/token',
      clientId: 'svc',
      clientSecret: 'a-client-secret-value',
    });
    expect(ok.status).toBe(201);
    expect(ok.body.state).toBe('pending');
  });
});
