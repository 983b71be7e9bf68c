import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CredentialView, EventBody, Page, Problem, TokenBody } from '../support/api-types.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { type OAuthServer, startOAuthServer } from '../support/oauth-server.js';
import { type ApiClient, type Stack, startStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

/**
 * Issue 2, acceptance 3 and 4: a permanent failure stops refreshing after one attempt until the
 * credential is updated; a provider outage shorter than the buffer is ridden out with growing
 * retries and the credential recovers before its token expires.
 */
describe('refresh failures', () => {
  let stack: Stack;
  let oauth: OAuthServer;
  let proxy: FaultProxy;
  let client: ApiClient;
  let queue: Queue;

  const events = async (id: string) =>
    (await client.get<Page<EventBody>>(`/v1/credentials/${id}/events?limit=1000`)).body.items;

  beforeAll(async () => {
    oauth = await startOAuthServer({ accessTokenTtl: 20 });
    proxy = await startFaultProxy(oauth.issuer);
    stack = await startStack({ name: 'fail' });
    client = stack.admin;
    queue = stack.refreshQueue();
  });

  afterAll(async () => {
    await stack?.stop();
    await proxy?.stop();
    await oauth?.stop();
  });

  it('marks a credential reauth_required after exactly one invalid_grant, and PATCH with a new refresh token revives it', async () => {
    const { clientId, clientSecret } = oauth.clients.post;
    oauth.resetCounters();
    const reg = await client.post<CredentialView>('/v1/credentials', {
      kind: 'oauth2.refresh_token',
      issuer: oauth.issuer,
      clientId,
      clientAuth: 'client_secret_post',
      clientSecret,
      refreshToken: 'a-refresh-token-the-provider-never-issued',
    });
    expect(reg.status).toBe(201);
    const id = reg.body.id;

    await waitFor(
      async () =>
        (await client.get<CredentialView>(`/v1/credentials/${id}`)).body.state === 'reauth_required',
      {
        timeoutMs: 15_000,
        message: 'state reauth_required',
      },
    );
    // No retry is planned: the refresh queue holds no job for the credential any more.
    await waitFor(
      async () => {
        const jobs = await queue.getJobs(['active', 'wait', 'delayed', 'prioritized']);
        return !jobs.some((j) => (j.data as { credentialId?: string }).credentialId === id);
      },
      { message: 'no refresh job left for the credential' },
    );
    const history = await events(id);
    expect(history.map((e) => e.type)).toEqual([
      'credential.registered',
      'refresh.failed',
      'credential.reauth_required',
    ]);
    expect(history[1]!.data).toMatchObject({ attempt: 1, class: 'permanent', code: 'INVALID_GRANT' });
    expect(oauth.counters.invalidGrant).toBe(1);

    const token = await client.get<Problem>(`/v1/credentials/${id}/token`);
    expect(token.status).toBe(503);
    expect(token.body).toMatchObject({ code: 'TOKEN_UNAVAILABLE', reason: 'auth' });

    const fresh = await oauth.issueRefreshToken('post');
    const patched = await client.patch<CredentialView>(`/v1/credentials/${id}`, {
      refreshToken: fresh.refreshToken,
    });
    expect(patched.status).toBe(200);
    expect(patched.body.state).toBe('pending');
    const active = await waitFor(
      async () => {
        const v = (await client.get<CredentialView>(`/v1/credentials/${id}`)).body;
        return v.state === 'active' && v.tokenVersion >= 1 ? v : undefined;
      },
      { timeoutMs: 15_000, message: 'active again' },
    );
    expect(active.expiresAt).toBeDefined();
    const served = await client.get<TokenBody>(`/v1/credentials/${id}/token?minTtl=1`);
    expect(served.status).toBe(200);
    expect((await oauth.introspect(served.body.accessToken)).active).toBe(true);
  });

  it('retries a provider outage with growing delays and recovers before the token expires', async () => {
    const cc = oauth.clients.clientCredentials;
    const reg = await client.post<CredentialView>('/v1/credentials', {
      kind: 'oauth2.client_credentials',
      issuer: oauth.issuer,
      tokenEndpoint: oauth.tokenEndpoint.replace(oauth.issuer, proxy.url),
      clientId: cc.clientId,
      clientSecret: cc.clientSecret,
      scope: 'api',
      policy: { minBufferSeconds: 1 },
    });
    expect(reg.status).toBe(201);
    const id = reg.body.id;
    const first = await waitFor(
      async () => {
        const v = (await client.get<CredentialView>(`/v1/credentials/${id}`)).body;
        return v.tokenVersion === 1 ? v : undefined;
      },
      { timeoutMs: 15_000, message: 'first token' },
    );
    const firstExpiry = Date.parse(first.expiresAt!);

    // Connection refused first, then 503s, then the provider comes back: shorter than the ~6.7 s buffer.
    await proxy.set({ mode: 'refuse' });
    const failures = (h: EventBody[]) => h.filter((e) => e.type === 'refresh.failed');
    await waitFor(async () => failures(await events(id)).length >= 2, {
      timeoutMs: 25_000,
      message: 'two refused attempts',
    });
    await proxy.set({ mode: 'status', status: 503 });
    await waitFor(
      async () => failures(await events(id)).some((e) => e.data.code === 'PROVIDER_UNAVAILABLE'),
      {
        timeoutMs: 10_000,
        message: 'a 503 attempt',
      },
    );
    await proxy.set({ mode: 'pass' });

    const recovered = await waitFor(
      async () => {
        const v = (await client.get<CredentialView>(`/v1/credentials/${id}`)).body;
        return v.tokenVersion === 2 ? v : undefined;
      },
      { timeoutMs: 15_000, message: 'refreshed after the outage' },
    );
    expect(recovered.state).toBe('active');

    const history = await events(id);
    const failed = failures(history);
    expect(failed.length).toBeGreaterThanOrEqual(3);
    expect(failed.every((e) => e.data.class === 'transient')).toBe(true);
    expect(failed.map((e) => e.data.code)).toEqual(
      expect.arrayContaining(['NETWORK_ERROR', 'PROVIDER_UNAVAILABLE']),
    );
    expect(failed.map((e) => e.data.attempt)).toEqual(failed.map((_, i) => i + 1));
    // Every retry was planned before the token expired.
    for (const e of failed) expect(Date.parse(String(e.data.nextAttemptAt))).toBeLessThanOrEqual(firstExpiry);
    const update = history.findLast((e) => e.type === 'token.updated')!;
    expect(Date.parse(update.at)).toBeLessThan(firstExpiry);
    expect(history.some((e) => e.type === 'credential.expired')).toBe(false);
  });
});
