import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  CredentialView,
  EventBody,
  Page,
  PoolTokenBody,
  PoolView,
  Problem,
  TokenBody,
} from '../support/api-types.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { type OAuthServer, startOAuthServer } from '../support/oauth-server.js';
import { type AppProcess, apiClient } from '../support/processes.js';
import { type Stack, startStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

/**
 * Issue 4, acceptance 1–4 and 6: one refresh per credential fleet-wide whatever asks for it, a
 * worker killed mid-refresh, a lost job repaired by the sweep, and pools.
 */
describe('reliability', () => {
  let stack: Stack;
  let oauth: OAuthServer;
  let proxy: FaultProxy;
  let apis: AppProcess[];
  let workers: readonly AppProcess[];
  let queue: Queue;

  const client = (i = 0) => apiClient(apis[i]!.url!);
  const refreshGrants = () => oauth.grantCount('refresh_token');

  async function register(body: Record<string, unknown>): Promise<string> {
    const res = await client().post<CredentialView>('/v1/credentials', body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.id;
  }

  async function rotating(via: 'direct' | 'proxy' = 'proxy'): Promise<string> {
    const c = oauth.clients.basic;
    const issued = await oauth.issueRefreshToken('basic');
    return register({
      kind: 'oauth2.refresh_token',
      issuer: oauth.issuer,
      tokenEndpoint:
        via === 'proxy' ? oauth.tokenEndpoint.replace(oauth.issuer, proxy.url) : oauth.tokenEndpoint,
      clientId: c.clientId,
      clientSecret: c.clientSecret,
      refreshToken: issued.refreshToken,
      // A held token, so the first refresh is far off and every refresh below is one we asked for.
      accessToken: issued.accessToken,
      expiresIn: 120,
    });
  }

  const view = async (id: string) => (await client().get<CredentialView>(`/v1/credentials/${id}`)).body;

  beforeAll(async () => {
    oauth = await startOAuthServer({ accessTokenTtl: 120 });
    proxy = await startFaultProxy(oauth.issuer);
    stack = await startStack({
      name: 'rel',
      env: {
        // Readers here ask for more runway than a token's whole lifetime, to make a refresh happen.
        TK_TOKEN_MIN_TTL_MAX_FRACTION: '1',
        TK_SWEEP_INTERVAL_MS: '2000',
        TK_JOB_LOCK_MS: '4000',
        TK_LEASE_TTL_MS: '8000',
        TK_GRANT_TIMEOUT_MS: '6000',
      },
      workers: 2,
    });
    apis = [stack.api, await stack.start('api', {}, 'api-2')];
    workers = stack.workers;
    queue = stack.refreshQueue();
  });

  afterAll(async () => {
    await stack?.stop();
    await proxy?.stop();
    await oauth?.stop();
  });

  it('serves 50 concurrent readers below runway on two api replicas with exactly one grant', async () => {
    const id = await rotating();
    await proxy.set({ latencyMs: 400 });
    const before = refreshGrants();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        client(i % 2).get<TokenBody>(`/v1/credentials/${id}/token?minTtl=600`),
      ),
    );
    await proxy.set({ latencyMs: 0 });
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(refreshGrants() - before).toBe(1);
    expect(new Set(results.map((r) => r.body.accessToken)).size).toBe(1);
    expect(results.every((r) => r.body.tokenVersion === 2)).toBe(true);
    expect((await oauth.introspect(results[0]!.body.accessToken)).active).toBe(true);
  });

  it('refreshes once for 100 invalidations of the current version and never for a stale one', async () => {
    const id = await rotating();
    await proxy.set({ latencyMs: 200 });
    const before = refreshGrants();
    const current = (await view(id)).tokenVersion;
    const burst = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        client(i % 2).post<TokenBody>(`/v1/credentials/${id}/token/invalidate`, { version: current }),
      ),
    );
    expect(burst.every((r) => r.status === 200)).toBe(true);
    expect(refreshGrants() - before).toBe(1);
    expect(new Set(burst.map((r) => r.body.tokenVersion))).toEqual(new Set([current + 1]));

    const stale = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        client(i % 2).post<TokenBody>(`/v1/credentials/${id}/token/invalidate`, { version: current }),
      ),
    );
    await proxy.set({ latencyMs: 0 });
    expect(stale.every((r) => r.status === 200 && r.body.tokenVersion === current + 1)).toBe(true);
    expect(refreshGrants() - before).toBe(1);
    expect(oauth.counters.invalidGrant).toBe(0);
  });

  it('keeps the token of a refresh during which the credential was renamed', async () => {
    const id = await rotating();
    const before = { grants: refreshGrants(), version: (await view(id)).tokenVersion };
    await proxy.set({ latencyMs: 800 });
    const received = proxy.stats.received;
    expect((await client().post(`/v1/credentials/${id}/refresh`)).status).toBe(202);
    await waitFor(() => proxy.stats.received > received, { timeoutMs: 5_000, message: 'grant in flight' });
    expect(
      (await client().patch<CredentialView>(`/v1/credentials/${id}`, { name: 'renamed-mid-refresh' })).status,
    ).toBe(200);
    const after = await waitFor(
      async () => {
        const v = await view(id);
        return v.tokenVersion > before.version ? v : undefined;
      },
      { timeoutMs: 10_000, message: 'refresh persisted' },
    );
    await proxy.set({ latencyMs: 0 });
    expect(after).toMatchObject({
      state: 'active',
      tokenVersion: before.version + 1,
      name: 'renamed-mid-refresh',
    });
    expect(refreshGrants() - before.grants).toBe(1);
    // The rotated refresh token was kept: the next refresh works.
    const next = await client().post<TokenBody>(`/v1/credentials/${id}/token/invalidate`, {
      version: after.tokenVersion,
    });
    expect(next.status).toBe(200);
    expect(next.body.tokenVersion).toBe(after.tokenVersion + 1);
    expect(oauth.counters.invalidGrant).toBe(0);
  });

  it('restores a pending job deleted by hand within the sweep period', async () => {
    const id = await rotating('direct');
    const jobId = `r-${id}-t1-a0`;
    expect(await queue.getJobState(jobId)).toBe('delayed');
    await queue.remove(jobId);
    expect(await queue.getJobState(jobId)).toBe('unknown');
    await waitFor(async () => (await queue.getJobState(jobId)) === 'delayed', {
      timeoutMs: 8_000,
      message: 'job restored',
    });
  });

  it('serves a pool token from the active member, skipping reauth_required and expired ones', async () => {
    const cc = oauth.clients.clientCredentials;
    const needsReauth = await register({
      kind: 'oauth2.refresh_token',
      issuer: oauth.issuer,
      clientId: oauth.clients.basic.clientId,
      clientSecret: oauth.clients.basic.clientSecret,
      refreshToken: 'revoked-long-ago',
    });
    const expiring = await register({
      kind: 'oauth2.client_credentials',
      tokenEndpoint: 'http://127.0.0.1:9/token',
      clientId: cc.clientId,
      clientSecret: cc.clientSecret,
      accessToken: 'an-imported-token-that-will-expire',
      expiresIn: 2,
      policy: { minBufferSeconds: 1 },
    });
    const active = await register({
      kind: 'oauth2.client_credentials',
      issuer: oauth.issuer,
      clientId: cc.clientId,
      clientSecret: cc.clientSecret,
      scope: 'api',
    });
    await waitFor(async () => (await view(needsReauth)).state === 'reauth_required', {
      timeoutMs: 10_000,
      message: 'reauth',
    });
    await waitFor(async () => (await view(expiring)).state === 'expired', {
      timeoutMs: 10_000,
      message: 'expired',
    });
    await waitFor(async () => (await view(active)).state === 'active', {
      timeoutMs: 10_000,
      message: 'active',
    });

    const pool = await client().post<PoolView>('/v1/pools', {
      name: 'upstream',
      members: [needsReauth, expiring, active],
    });
    expect(pool.status).toBe(201);
    for (let i = 0; i < 4; i++) {
      const res = await client(i % 2).get<PoolTokenBody>(`/v1/pools/${pool.body.id}/token?minTtl=5`);
      expect(res.status).toBe(200);
      expect(res.body.credentialId).toBe(active);
    }

    const dead = await client().post<PoolView>('/v1/pools', { members: [needsReauth, expiring] });
    const none = await client().get<Problem>(`/v1/pools/${dead.body.id}/token`);
    expect(none.status).toBe(503);
    expect(none.body.detail).toContain(`${needsReauth} reauth_required`);
    expect(none.body.detail).toContain(`${expiring} expired`);
    expect(none.body.reason).toBe('auth');
  });

  it('lets another worker finish a refresh whose worker was killed mid-flight, without presenting a refresh token twice', async () => {
    const id = await rotating();
    const before = {
      grants: refreshGrants(),
      invalid: oauth.counters.invalidGrant,
      version: (await view(id)).tokenVersion,
    };
    await proxy.set({ latencyMs: 1_500 });
    const received = proxy.stats.received;
    const abandoned = () => proxy.requests.filter((r) => r.outcome === 'client-gone').length;
    const abandonedBefore = abandoned();
    expect((await client().post(`/v1/credentials/${id}/refresh`)).status).toBe(202);
    // The refresh is in flight once its request reaches the proxy; kill both workers at that moment
    // (whichever holds the job), then bring one back.
    await waitFor(() => proxy.stats.received > received, {
      timeoutMs: 5_000,
      message: 'grant request in flight',
    });
    await Promise.all(workers.map((w) => w.kill()));
    await proxy.set({ latencyMs: 0 });
    // The killed worker's grant request never reaches the provider (its connection is gone).
    await waitFor(() => abandoned() > abandonedBefore, {
      message: 'killed grant request dropped by the proxy',
    });
    await workers[1]!.start();

    const after = await waitFor(
      async () => {
        const v = await view(id);
        return v.tokenVersion > before.version ? v : undefined;
      },
      { timeoutMs: 30_000, message: 'refreshed by the surviving worker' },
    );
    expect(after.tokenVersion).toBe(before.version + 1);
    expect(after.state).toBe('active');
    expect(refreshGrants() - before.grants).toBe(1);
    expect(oauth.counters.invalidGrant).toBe(before.invalid);
    const { body } = await client().get<Page<EventBody>>(`/v1/credentials/${id}/events`);
    expect(body.items.map((e) => e.revision)).toEqual(body.items.map((_, i) => i + 1));
    await workers[0]!.start();
  });
});
