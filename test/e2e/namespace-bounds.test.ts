import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  CreatedApiKey,
  CredentialView,
  EventBody,
  FeedItem,
  Page,
  Problem,
  SubscriptionView,
  TokenBody,
} from '../support/api-types.js';
import { type OAuthServer, startOAuthServer } from '../support/oauth-server.js';
import { connectSse, type SseConnection } from '../support/sse-client.js';
import { type Stack, startStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

const CONTROL = /[\p{Cc}\u2028\u2029]/u;
/** What the hostile provider says in `error_description`: 250,000 characters, control characters included. */
const HUGE_DESCRIPTION = `bad\r\n\u0000\u001b[2J request ${'d'.repeat(249_980)}`;

/**
 * Issue 10, finding 4 and 5: one provider cannot fill Redis through its error messages, and one
 * namespace (or one key) cannot take what the others need: event streams, subscriptions, reads,
 * forced refreshes. Bodies nested thousands deep are refused with a 400.
 */
describe('bounds and fairness between namespaces', () => {
  let stack: Stack;
  let oauth: OAuthServer;
  let hostile: Server;
  let hostileUrl: string;
  let hostileCalls = 0;
  const admin = () => stack.admin;
  const keyOf = async (namespace: string) => {
    const res = await admin().post<CreatedApiKey>('/v1/api-keys', {
      name: `${namespace}-admin`,
      namespace,
      scopes: ['admin'],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.key;
  };

  beforeAll(async () => {
    oauth = await startOAuthServer({ accessTokenTtl: 600 });
    // A provider that refuses every grant with an enormous error description.
    hostile = createServer((req, res) => {
      hostileCalls += 1;
      req.resume();
      req.on('end', () => {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'invalid_request', error_description: HUGE_DESCRIPTION }));
      });
    });
    await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
    hostileUrl = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`;
    stack = await startStack({
      name: 'bounds',
      env: {
        TK_EVENT_STREAM_MAX_STREAMS: '6',
        TK_EVENT_STREAM_MAX_STREAMS_PER_NAMESPACE: '2',
        TK_WEBHOOK_MAX_SUBSCRIPTIONS_PER_NAMESPACE: '2',
        TK_RATE_LIMIT_READ_PER_SECOND: '100',
        TK_RATE_LIMIT_READ_BURST: '150',
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await new Promise((resolve) => hostile?.close(resolve));
    await oauth?.stop();
  });

  it('stores and echoes a 250,000-character error description as at most 512 characters without control characters', async () => {
    const reg = await admin().post<CredentialView>('/v1/credentials', {
      kind: 'oauth2.client_credentials',
      tokenEndpoint: `${hostileUrl}/token`,
      clientId: 'client',
      clientSecret: 'secret-of-the-client',
    });
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    const id = reg.body.id;
    const failures = await waitFor(
      async () => {
        const items = (
          await admin().get<Page<EventBody>>(`/v1/credentials/${id}/events?limit=1000`)
        ).body.items.filter((e) => e.type === 'refresh.failed');
        return items.length >= 2 ? items : undefined;
      },
      { timeoutMs: 30_000, message: 'two refresh.failed events' },
    );
    expect(hostileCalls).toBeGreaterThanOrEqual(2);
    for (const { data } of failures) {
      expect(data.message).toBeTypeOf('string');
      expect(data.code).toBeTypeOf('string');
      const { message, code } = data as { message: string; code: string };
      expect(message.length).toBeLessThanOrEqual(512);
      expect(message).toMatch(/^invalid_request: bad \[2J request d+…$/);
      expect(CONTROL.test(message)).toBe(false);
      expect(code.length).toBeLessThanOrEqual(512);
    }

    const view = (await admin().get<CredentialView>(`/v1/credentials/${id}`)).body;
    expect(view.lastFailure?.message.length).toBeLessThanOrEqual(512);
    expect(CONTROL.test(view.lastFailure?.message ?? '')).toBe(false);

    const feed = await admin().get<Page<FeedItem>>('/v1/events?limit=1000');
    for (const e of feed.body.items.filter((i) => i.credentialId === id)) {
      expect(String(e.data.message ?? '').length).toBeLessThanOrEqual(512);
    }

    const token = await admin().get<Problem>(`/v1/credentials/${id}/token`);
    expect(token.status).toBe(503);
    expect(token.body.detail!.length).toBeLessThanOrEqual(512);
    expect(CONTROL.test(token.body.detail!)).toBe(false);
    expect(JSON.stringify(token.body).length).toBeLessThan(2_000);

    // Nothing of the description's size reached Redis: every key of this test's Redis together
    // holds less than a single copy of it would.
    const client = new Redis(stack.redis.url, { maxRetriesPerRequest: null });
    try {
      let total = 0;
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'COUNT', 500);
        cursor = next;
        for (const key of keys) total += (await client.memory('USAGE', key)) ?? 0;
      } while (cursor !== '0');
      expect(total).toBeLessThan(HUGE_DESCRIPTION.length);
    } finally {
      client.disconnect();
    }
  });

  it("lets namespace A open event streams while B's are at its cap; B's extra stream gets a 429 problem", async () => {
    const [a, b] = await Promise.all([keyOf('stream-a'), keyOf('stream-b')]);
    const url = `${stack.url}/v1/events/stream`;
    const open: SseConnection[] = [];
    try {
      for (let i = 0; i < 2; i++) open.push(await connectSse(url, { authorization: `Bearer ${b}` }));
      expect(open.map((c) => c.status)).toEqual([200, 200]);
      const refused = await fetch(url, { headers: { authorization: `Bearer ${b}` } });
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('5');
      const body = (await refused.json()) as Problem;
      expect(body.code).toBe('TOO_MANY_STREAMS_FOR_NAMESPACE');
      expect(body.detail).toContain('TK_EVENT_STREAM_MAX_STREAMS_PER_NAMESPACE');

      const ofA = await connectSse(url, { authorization: `Bearer ${a}` });
      open.push(ofA);
      expect(ofA.status).toBe(200);
      await waitFor(() => ofA.messages.some((m) => m.event === 'ready'), { message: 'A stream ready' });
    } finally {
      for (const c of open) c.close();
    }
    // Closed streams give their places back.
    await waitFor(
      async () => {
        const again = await connectSse(url, { authorization: `Bearer ${b}` });
        again.close();
        return again.status === 200;
      },
      { timeoutMs: 10_000, message: "B's streams released" },
    );
  });

  it('caps subscriptions per namespace with a 409 problem, without touching other namespaces', async () => {
    const [c, d] = await Promise.all([keyOf('subs-c'), keyOf('subs-d')]);
    const subscribe = (key: string, path: string) =>
      stack
        .client({ authorization: `Bearer ${key}` })
        .post<Problem & SubscriptionView>('/v1/subscriptions', { url: `${hostileUrl}/${path}` });
    expect((await subscribe(c, 'one')).status).toBe(201);
    expect((await subscribe(c, 'two')).status).toBe(201);
    const third = await subscribe(c, 'three');
    expect(third.status).toBe(409);
    expect(third.body.code).toBe('SUBSCRIPTION_LIMIT_REACHED');
    expect(third.body.detail).toContain('at most 2');
    expect((await subscribe(d, 'one')).status).toBe(201);
    // Deleting one makes room again.
    const cClient = stack.client({ authorization: `Bearer ${c}` });
    const listed = await cClient.get<Page<SubscriptionView>>('/v1/subscriptions');
    expect(listed.body.items).toHaveLength(2);
    expect((await cClient.delete(`/v1/subscriptions/${listed.body.items[0]!.id}`)).status).toBe(204);
    expect((await subscribe(c, 'three')).status).toBe(201);
  });

  it('rate-limits reads per key, leaving other keys alone', async () => {
    const key = await keyOf('reader');
    const results = await Promise.all(
      Array.from({ length: 300 }, () =>
        fetch(`${stack.url}/v1/credentials`, { headers: { authorization: `Bearer ${key}` } }),
      ),
    );
    const limited = results.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(results.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(100);
    expect(results.every((r) => r.status === 200 || r.status === 429)).toBe(true);
    expect(Number(limited[0]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await limited[0]!.json()) as Problem).code).toBe('RATE_LIMITED');
    await Promise.all(results.map((r) => (r.bodyUsed ? undefined : r.body?.cancel())));
    expect((await admin().get('/v1/credentials')).status).toBe(200);
  });

  it('20 reads with a huge minTtl cause at most one upstream grant', async () => {
    oauth.setAccessTokenTtl(10);
    const cc = oauth.clients.clientCredentials;
    const reg = await admin().post<CredentialView>('/v1/credentials', {
      kind: 'oauth2.client_credentials',
      issuer: oauth.issuer,
      clientId: cc.clientId,
      clientSecret: cc.clientSecret,
      scope: 'api',
      // Scheduled refresh about 1 s before expiry: the reads below come well before it.
      policy: { fraction: 0.1, minBufferSeconds: 0, maxBufferSeconds: 1 },
    });
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    const id = reg.body.id;
    const view = await waitFor(
      async () => {
        const v = (await admin().get<CredentialView>(`/v1/credentials/${id}`)).body;
        return v.state === 'active' && v.expiresAt ? v : undefined;
      },
      { timeoutMs: 15_000, message: 'first token' },
    );
    // Past half its lifetime, so that a huge minTtl (capped at half the lifetime) wants a refresh.
    const expiresAt = Date.parse(view.expiresAt!);
    await waitFor(() => expiresAt - Date.now() < 4_500, { timeoutMs: 10_000, message: 'past half-life' });
    oauth.resetCounters();

    const read = () => admin().get<TokenBody>(`/v1/credentials/${id}/token?minTtl=86400`);
    const concurrent = await Promise.all(Array.from({ length: 10 }, read));
    const sequential = [];
    for (let i = 0; i < 10; i++) sequential.push(await read());
    const all = [...concurrent, ...sequential];
    expect(all.map((r) => r.status)).toEqual(all.map(() => 200));
    console.info(
      `20 reads with minTtl=86400: ${oauth.grantCount('client_credentials')} grant(s), ${all.filter((r) => r.body.warning).length} served the cached token with a warning`,
    );
    expect(oauth.grantCount('client_credentials')).toBeLessThanOrEqual(1);
    // The reads turned away were served the cached token, with a warning saying why.
    const warned = all.filter((r) => r.body.warning);
    for (const r of warned) {
      expect(r.body.warning).toMatch(/refreshed this credential recently/);
      expect(r.headers.get('tokenkeeper-warning')).toBe(r.body.warning);
    }
    expect(warned.length + oauth.grantCount('client_credentials')).toBeGreaterThanOrEqual(1);

    // The new token past half its lifetime too, within the interval: no second read-triggered
    // refresh, the cached token with a warning instead.
    const latest = all.at(-1)!.body;
    await waitFor(() => Date.parse(latest.expiresAt) - Date.now() < 4_500, {
      timeoutMs: 10_000,
      message: 'new token past half-life',
    });
    const grantsBefore = oauth.grantCount('client_credentials');
    const late = await read();
    expect(late.status).toBe(200);
    expect(late.body.accessToken).toBe(latest.accessToken);
    expect(late.body.warning).toMatch(/refreshed this credential recently/);
    expect(late.headers.get('tokenkeeper-warning')).toBe(late.body.warning);
    expect(oauth.grantCount('client_credentials')).toBe(grantsBefore);
    oauth.setAccessTokenTtl(600);
  });

  it('refuses JSON nested 5,000 deep with a 400 problem, and claims nested too deep naming the field', async () => {
    const deep = `{"kind":"jwt.mint","claims":${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}}`;
    const res = await admin().raw('POST', '/v1/credentials', deep, { 'content-type': 'application/json' });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('JSON_TOO_DEEP');
    expect(String(res.body.detail)).toContain('32 levels');

    const claims = JSON.parse(`${'{"a":'.repeat(20)}1${'}'.repeat(20)}`) as Record<string, unknown>;
    const tooDeep = await admin().post<Problem>('/v1/credentials', {
      kind: 'jwt.mint',
      privateKey: 'x'.repeat(40),
      ttlSeconds: 60,
      claims,
    });
    expect(tooDeep.status, JSON.stringify(tooDeep.body)).toBe(400);
    expect(tooDeep.body.errors?.map((e) => e.field)).toContain('claims');
  });
});
