import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTokenProvider,
  type TokenInfo,
  type TokenkeeperEvent,
  type TokenProvider,
  TokenUnavailableError,
  type TokenWarning,
} from '#client';
import type { CredentialView, FeedItem, Page } from '../support/api-types.js';
import { type OAuthServer, startOAuthServer } from '../support/oauth-server.js';
import { TEST_ADMIN_KEY } from '../support/processes.js';
import { type Stack, startStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

const ACCESS_TOKEN_TTL = 20;
const MIN_TTL = 15;

/**
 * Issue 5, acceptance 5 (seed 004, the on-demand JWT refresh PR): the SDK against the real api,
 * a worker and an authorization server with rotating refresh tokens and 20 s access tokens.
 * The three tests run in order on one credential and one token provider, as one application would.
 */
describe('seed 004: on-demand client', () => {
  let stack: Stack;
  let oauth: OAuthServer;
  let upstream: Server;
  let upstreamUrl: string;
  let provider: TokenProvider;
  let credentialId: string;
  const warnings: TokenWarning[] = [];
  const serviceCalls: string[] = [];
  /** The upstream refuses tokens issued at or before this second (as after a key rotation on its side). */
  let notBefore = 0;
  const upstreamSaw: { token: string; status: number }[] = [];

  beforeAll(async () => {
    oauth = await startOAuthServer({ accessTokenTtl: ACCESS_TOKEN_TTL, rotateRefreshToken: true });
    stack = await startStack({
      name: 'seed004',
      // The client asks for 15 s of a 20 s token's runway, more than the default half.
      env: { TK_TOKEN_MIN_TTL_MAX_FRACTION: '1' },
    });

    // A resource server: the token must be active at the provider and issued after `notBefore`.
    upstream = createServer((req, res) => {
      const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      void oauth.introspect(token).then(
        (info) => {
          const status = info.active && (info.iat ?? 0) > notBefore ? 200 : 401;
          upstreamSaw.push({ token, status });
          res
            .writeHead(status, { 'content-type': 'application/json' })
            .end(JSON.stringify({ ok: status === 200 }));
        },
        () => res.writeHead(500).end(),
      );
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/orders`;

    const issued = await oauth.issueRefreshToken('basic');
    const reg = await stack.admin.post<CredentialView>('/v1/credentials', {
      kind: 'oauth2.refresh_token',
      name: 'seed-004',
      issuer: oauth.issuer,
      clientId: oauth.clients.basic.clientId,
      clientAuth: 'client_secret_basic',
      clientSecret: oauth.clients.basic.clientSecret,
      refreshToken: issued.refreshToken,
      // Scheduled refreshes 2 s before expiry: the SDK's on-demand path does the work in these tests.
      policy: { fraction: 0.1, minBufferSeconds: 1 },
    });
    expect(reg.status).toBe(201);
    credentialId = reg.body.id;
    await waitFor(
      async () =>
        (await stack.admin.get<CredentialView>(`/v1/credentials/${reg.body.id}`)).body.tokenVersion >= 1,
      { timeoutMs: 15_000, message: 'first token' },
    );
    provider = createTokenProvider({
      baseUrl: stack.url,
      apiKey: TEST_ADMIN_KEY,
      credentialId: reg.body.id,
      minTtl: MIN_TTL,
      requestTimeoutMs: 5_000,
      onWarning: (w) => warnings.push(w),
      fetch: (input, init) => {
        serviceCalls.push(String(input));
        return fetch(input, init);
      },
    });
  });

  afterAll(async () => {
    await provider?.close();
    await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
    await stack?.stop();
    await oauth?.stop();
  });

  /** Waits until the cached token has less than `seconds` left (on the SDK's clock, as it decides). */
  const untilRunwayBelow = (info: TokenInfo, seconds: number) =>
    waitFor(() => info.expiresAt.getTime() - Date.now() < seconds * 1000 - 200, {
      timeoutMs: ACCESS_TOKEN_TTL * 1000,
      intervalMs: 50,
      message: `runway below ${seconds} s`,
    });

  it('20 concurrent getToken() calls near expiry cause exactly one refresh', async () => {
    const first = await provider.getTokenInfo();
    expect(first.expiresIn).toBeGreaterThanOrEqual(MIN_TTL);
    await untilRunwayBelow(first, MIN_TTL - 1);
    oauth.resetCounters();
    serviceCalls.length = 0;

    const infos = await Promise.all(Array.from({ length: 20 }, () => provider.getTokenInfo()));

    expect(new Set(infos.map((i) => i.accessToken)).size).toBe(1);
    expect(infos[0]!.tokenVersion).toBe(first.tokenVersion + 1);
    expect(infos[0]!.expiresIn).toBeGreaterThanOrEqual(MIN_TTL);
    expect(serviceCalls).toHaveLength(1);
    expect(oauth.grantCount('refresh_token')).toBe(1);
    expect((await oauth.introspect(infos[0]!.accessToken)).active).toBe(true);
    // And the next call is served from the cache.
    expect(await provider.getToken()).toBe(infos[0]!.accessToken);
    expect(serviceCalls).toHaveLength(1);
    expect(warnings).toEqual([]);
  });

  it('an upstream 401 makes authFetch invalidate the token and succeed on its single retry', async () => {
    const before = await provider.getTokenInfo();
    expect((await oauth.introspect(before.accessToken)).active).toBe(true); // valid by every clock...
    notBefore = Math.floor(Date.now() / 1000);
    // ...but the upstream now refuses it: the replacement is issued in a later second.
    await waitFor(() => Math.floor(Date.now() / 1000) > notBefore, {
      intervalMs: 20,
      message: 'a later second',
    });
    const refreshesBefore = oauth.grantCount('refresh_token');
    serviceCalls.length = 0;

    const res = await provider.authFetch(upstreamUrl, { method: 'POST', body: '{"item":1}' });

    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
    expect(upstreamSaw.map((s) => s.status)).toEqual([401, 200]);
    expect(upstreamSaw[0]!.token).toBe(before.accessToken);
    expect(upstreamSaw[1]!.token).not.toBe(before.accessToken);
    // The same fetch carries the upstream calls: tokenkeeper itself was asked only to invalidate.
    expect(serviceCalls.filter((u) => u.startsWith(stack.url))).toEqual([
      `${stack.url}/v1/credentials/${credentialId}/token/invalidate`,
    ]);
    expect(oauth.grantCount('refresh_token')).toBe(refreshesBefore + 1);
    const after = await provider.getTokenInfo();
    expect(after.tokenVersion).toBe(before.tokenVersion + 1);
    expect(after.accessToken).toBe(upstreamSaw[1]!.token);
    expect(oauth.counters.refreshTokenReuse).toBe(0);
  });

  it('subscribe() delivers token.updated from the event stream, and the next getToken() takes the new token', async () => {
    const cached = await provider.getTokenInfo();
    const events: TokenkeeperEvent[] = [];
    const errors: string[] = [];
    // Resume from the feed's current end, so nothing is missed however late the stream connects.
    const feed = await stack.admin.get<Page<FeedItem>>(`/v1/events?credentialId=${credentialId}&limit=1000`);
    expect(feed.status).toBe(200);
    expect(feed.body.items.length).toBeLessThan(1000);
    const unsubscribe = provider.subscribe((e) => void events.push(e), {
      types: ['token.updated'],
      onError: (e) => errors.push(`${e.code}: ${e.message}`),
      ...(feed.body.nextCursor ? { lastEventId: feed.body.nextCursor } : {}),
    });
    try {
      const refresh = await stack.admin.post(`/v1/credentials/${credentialId}/refresh`);
      expect(refresh.status).toBe(202);
      await waitFor(
        () => {
          if (events.length === 0 && errors.length > 0) throw new Error(errors.join('; ')); // shown on timeout
          return events.length > 0;
        },
        { timeoutMs: 10_000, message: 'token.updated on the stream' },
      );
      expect(events[0]).toMatchObject({ type: 'token.updated', credentialId });
      expect(events[0]!.data.tokenVersion).toBe(cached.tokenVersion + 1);
      expect(JSON.stringify(events)).not.toContain(cached.accessToken);
      serviceCalls.length = 0;
      const next = await provider.getTokenInfo();
      expect(next.tokenVersion).toBe(cached.tokenVersion + 1);
      expect(serviceCalls).toHaveLength(1);
      expect(errors).toEqual([]);
      expect(events).toHaveLength(1);
    } finally {
      await unsubscribe();
    }
  });

  it('with tokenkeeper stopped, getToken() serves the cached token while valid and a clear error after', async () => {
    const cached = await provider.getTokenInfo();
    await stack.api.stop();
    await untilRunwayBelow(cached, MIN_TTL); // now the provider must ask tokenkeeper, which is gone

    const served = await provider.getTokenInfo();
    expect(served.accessToken).toBe(cached.accessToken);
    expect(served.expiresIn).toBeGreaterThan(0);
    expect(served.warning).toMatch(/serving the cached token .*unreachable: ECONNREFUSED/);
    expect(warnings.map((w) => w.code)).toContain('SERVED_FROM_CACHE');
    expect((await oauth.introspect(served.accessToken)).active).toBe(true);

    // Until the cached token expires every call still serves it; from then on the call fails.
    const servedMeanwhile = new Set<string>();
    const err = await waitFor(
      () =>
        provider.getToken().then(
          (token) => void servedMeanwhile.add(token),
          (e: unknown) => e,
        ),
      { timeoutMs: cached.expiresAt.getTime() - Date.now() + 5_000, intervalMs: 250, message: 'expiry' },
    );
    expect([...servedMeanwhile]).toEqual([cached.accessToken]);
    // Not before its last second (the SDK keeps a 1 s margin).
    expect(Date.now()).toBeGreaterThanOrEqual(cached.expiresAt.getTime() - 1_000);
    expect(err).toBeInstanceOf(TokenUnavailableError);
    expect(err).toMatchObject({ code: 'TOKEN_UNAVAILABLE', reason: 'unreachable' });
    expect((err as Error).message).toMatch(
      /is unreachable: ECONNREFUSED; the cached token \(version \d+\) expired at/,
    );
    expect((err as Error).message).not.toContain(cached.accessToken);
    expect((err as Error).message).not.toContain(TEST_ADMIN_KEY);
  });
});
