/**
 * Self-test of the rotation test support: the fault proxy's after-forward faults and its record of
 * refresh-token presentations, and the grace-period provider.
 */
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultProxy, startFaultProxy, tokenHash, WORKER_HEADER } from '../support/fault-proxy.js';
import { type GraceOAuthServer, startGraceOAuthServer } from '../support/grace-oauth-server.js';
import { type OAuthServer, startOAuthServer } from '../support/oauth-server.js';
import { sleep, waitFor } from '../support/wait.js';

/** A refresh grant as tokenkeeper sends it (form body, client_secret_basic, worker header). */
async function refreshVia(
  url: string,
  creds: { clientId: string; clientSecret: string },
  refreshToken: string,
  opts: { worker?: string; timeoutMs?: number } = {},
): Promise<{ status: number; body: Record<string, unknown> | string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${creds.clientId}:${creds.clientSecret}`).toString('base64')}`,
      ...(opts.worker ? { [WORKER_HEADER]: opts.worker } : {}),
    },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
    signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
  });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as Record<string, unknown> };
  } catch {
    return { status: res.status, body: text };
  }
}

describe('fault proxy: faults after forwarding and the presentation record', () => {
  let oauth: OAuthServer;
  let proxy: FaultProxy;
  let tokenUrl: string;
  beforeAll(async () => {
    oauth = await startOAuthServer({ rotateRefreshToken: true });
    proxy = await startFaultProxy(oauth.issuer);
    tokenUrl = oauth.tokenEndpoint.replace(oauth.issuer, proxy.url);
  });
  afterAll(async () => {
    await proxy?.stop();
    await oauth?.stop();
  });

  it('records a delivered presentation: worker, provider status, issued token; never the token itself', async () => {
    const issued = await oauth.issueRefreshToken('basic');
    const res = await refreshVia(tokenUrl, oauth.clients.basic, issued.refreshToken, { worker: 'host-a:11' });
    expect(res.status).toBe(200);
    const next = (res.body as { refresh_token: string }).refresh_token;
    await waitFor(() => proxy.presentationsOf(issued.refreshToken)[0]?.settledAt, { message: 'settled' });
    const [p] = proxy.presentationsOf(issued.refreshToken);
    expect(p).toMatchObject({
      worker: 'host-a:11',
      providerStatus: 200,
      delivered: true,
      issued: tokenHash(next),
    });
    expect(p!.fault).toBeUndefined();
    const all = JSON.stringify([...proxy.presentations()]);
    expect(all).not.toContain(issued.refreshToken);
    expect(all).not.toContain(next);
    expect(proxy.tokensPresentedTwice()).not.toContain(tokenHash(issued.refreshToken));
  });

  it('held: the provider rotates, the answer comes after holdMs; a client that gave up never gets it', async () => {
    await proxy.set({ holdMs: 600 });
    const issued = await oauth.issueRefreshToken('basic');
    proxy.injectNext('held');
    const gaveUp = await refreshVia(tokenUrl, oauth.clients.basic, issued.refreshToken, {
      worker: 'host-a:12',
      timeoutMs: 200,
    }).catch((e: unknown) => e);
    expect((gaveUp as Error).name).toBe('TimeoutError');
    await waitFor(() => proxy.presentationsOf(issued.refreshToken)[0]?.settledAt, { message: 'settled' });
    const [p] = proxy.presentationsOf(issued.refreshToken);
    expect(p).toMatchObject({ providerStatus: 200, fault: 'held', delivered: false, worker: 'host-a:12' });
    expect(p!.issued).toBeDefined();

    // The retry presents the consumed token: the strict provider refuses and revokes the grant.
    const retry = await refreshVia(tokenUrl, oauth.clients.basic, issued.refreshToken, {
      worker: 'host-a:13',
    });
    expect(retry.status).toBe(400);
    const list = proxy.presentationsOf(issued.refreshToken);
    expect(list.map((x) => [x.worker, x.providerStatus])).toEqual([
      ['host-a:12', 200],
      ['host-a:13', 400],
    ]);
    expect(proxy.tokensPresentedTwice()).toContain(tokenHash(issued.refreshToken));
  });

  it('held: a client that waits gets the answer after holdMs', async () => {
    await proxy.set({ holdMs: 400 });
    const issued = await oauth.issueRefreshToken('basic');
    proxy.injectNext('held');
    const started = Date.now();
    const res = await refreshVia(tokenUrl, oauth.clients.basic, issued.refreshToken);
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    await waitFor(() => proxy.presentationsOf(issued.refreshToken)[0]?.settledAt, { message: 'settled' });
    expect(proxy.presentationsOf(issued.refreshToken)[0]).toMatchObject({ fault: 'held', delivered: true });
  });

  it('reset after forward and 502 after forward: the provider rotated, the answer is lost', async () => {
    const before = oauth.grantCount('refresh_token');
    const a = await oauth.issueRefreshToken('basic');
    proxy.injectNext('reset-after-forward');
    const reset = await refreshVia(tokenUrl, oauth.clients.basic, a.refreshToken).catch((e: unknown) => e);
    expect(reset).toBeInstanceOf(TypeError);

    const b = await oauth.issueRefreshToken('basic');
    proxy.injectNext('bad-gateway-after-forward');
    const gateway = await refreshVia(tokenUrl, oauth.clients.basic, b.refreshToken);
    expect(gateway.status).toBe(502);
    expect(String(gateway.body)).toContain('Bad Gateway');

    expect(oauth.grantCount('refresh_token') - before).toBe(2);
    expect(proxy.presentationsOf(a.refreshToken)[0]).toMatchObject({
      providerStatus: 200,
      fault: 'reset-after-forward',
      delivered: false,
    });
    expect(proxy.presentationsOf(b.refreshToken)[0]).toMatchObject({
      providerStatus: 200,
      fault: 'bad-gateway-after-forward',
      delivered: false,
    });
    expect(proxy.stats.afterForwardFaults).toBeGreaterThanOrEqual(2);
  });

  it('a failure before forwarding is no presentation; injected faults come before the random ones', async () => {
    const issued = await oauth.issueRefreshToken('basic');
    await proxy.set({ failureRate: 0, failureStatus: 503 });
    proxy.injectNext('failure');
    const res = await refreshVia(tokenUrl, oauth.clients.basic, issued.refreshToken);
    expect(res.status).toBe(503);
    expect(proxy.presentationsOf(issued.refreshToken)).toEqual([]);
    expect((await refreshVia(tokenUrl, oauth.clients.basic, issued.refreshToken)).status).toBe(200);
  });

  it('a seed makes the random faults repeatable', async () => {
    const outcomes = async (seed: number) => {
      await proxy.set({ seed, failureRate: 0.3, badGatewayAfterForward: 0.3, failureStatus: 503 });
      proxy.resetStats();
      for (let i = 0; i < 30; i++) await fetch(`${proxy.url}/jwks`).then((r) => r.arrayBuffer());
      return proxy.requests.map((r) => r.outcome).join(',');
    };
    try {
      const first = await outcomes(42);
      expect(first).toContain('random-failure');
      expect(first).toContain('bad-gateway-after-forward');
      expect(first).toContain('pass');
      expect(await outcomes(42)).toBe(first);
      expect(await outcomes(43)).not.toBe(first);
    } finally {
      await proxy.set({ failureRate: 0, badGatewayAfterForward: 0 });
    }
  });
});

describe('grace-period provider', () => {
  let grace: GraceOAuthServer;
  beforeAll(async () => {
    grace = await startGraceOAuthServer({ graceSeconds: 1, accessTokenTtl: 30 });
  });
  afterAll(async () => {
    await grace?.stop();
  });

  it('refreshes through openid-client with rotation; introspection says the served token is active', async () => {
    const issued = await grace.issueRefreshToken('basic');
    const config = new client.Configuration(
      { issuer: grace.issuer, token_endpoint: grace.tokenEndpoint },
      grace.clients.basic.clientId,
      undefined,
      client.ClientSecretBasic(grace.clients.basic.clientSecret),
    );
    client.allowInsecureRequests(config);
    const refreshed = await client.refreshTokenGrant(config, issued.refreshToken);
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(issued.refreshToken);
    expect(refreshed.expires_in).toBe(30);
    expect(await grace.introspect(refreshed.access_token)).toMatchObject({ active: true });
    expect(await grace.introspect(refreshed.refresh_token!)).toMatchObject({ active: true });
    expect((await grace.introspect('at_unknown')).active).toBe(false);
  });

  it('reuse within the window yields a valid token set; after it, invalid_grant and the family is revoked', async () => {
    grace.resetCounters();
    const issued = await grace.issueRefreshToken('basic');
    const first = await refreshVia(grace.tokenEndpoint, grace.clients.basic, issued.refreshToken);
    expect(first.status).toBe(200);
    const again = await refreshVia(grace.tokenEndpoint, grace.clients.basic, issued.refreshToken);
    expect(again.status).toBe(200);
    const a = first.body as { access_token: string; refresh_token: string };
    const b = again.body as { access_token: string; refresh_token: string };
    expect(b.refresh_token).not.toBe(a.refresh_token);
    expect((await grace.introspect(a.access_token)).active).toBe(true);
    expect((await grace.introspect(b.access_token)).active).toBe(true);
    expect(grace.counters).toMatchObject({ refreshes: 2, reuseInsideWindow: 1, reuseOutsideWindow: 0 });

    await sleep(1_100);
    const late = await refreshVia(grace.tokenEndpoint, grace.clients.basic, issued.refreshToken);
    expect(late.status).toBe(400);
    expect((late.body as { error: string }).error).toBe('invalid_grant');
    expect(grace.counters).toMatchObject({ reuseOutsideWindow: 1, familiesRevoked: 1 });
    expect((await grace.introspect(a.access_token)).active).toBe(false);
    expect((await grace.introspect(b.access_token)).active).toBe(false);
    const newest = await refreshVia(grace.tokenEndpoint, grace.clients.basic, b.refresh_token);
    expect(newest.status).toBe(400);
  });

  it('refuses a wrong client secret (401) and another grant type (400)', async () => {
    const issued = await grace.issueRefreshToken('basic');
    const wrong = await refreshVia(
      grace.tokenEndpoint,
      { clientId: grace.clients.basic.clientId, clientSecret: 'nope' },
      issued.refreshToken,
    );
    expect(wrong.status).toBe(401);
    const res = await fetch(grace.tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: grace.clients.post.clientId,
        client_secret: grace.clients.post.clientSecret,
      }),
    });
    expect(res.status).toBe(400);
  });
});
