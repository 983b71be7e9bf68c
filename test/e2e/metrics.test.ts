import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CREDENTIAL_STATES } from '#core';
import type { CreatedApiKey, CredentialView } from '../support/api-types.js';
import { freePort } from '../support/net.js';
import { type OAuthServer, startOAuthServer } from '../support/oauth-server.js';
import { TEST_ADMIN_KEY } from '../support/processes.js';
import { parsePrometheusText, sampleValue } from '../support/prometheus-text.js';
import { type Stack, startStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

async function scrape(url: string, key?: string): Promise<{ status: number; type: string; text: string }> {
  const res = await fetch(url, { headers: key ? { authorization: `Bearer ${key}` } : {} });
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

/**
 * Issue 6, acceptance 2: after a run with two successful refreshes, a transient failure and a
 * permanent one, the worker's metrics count exactly those, the api's gauges show the credentials
 * by state and the queues, and both scrapes parse as strict Prometheus text.
 */
describe('metrics', () => {
  let stack: Stack;
  let oauth: OAuthServer;
  let workerMetrics: string;

  beforeAll(async () => {
    oauth = await startOAuthServer({ accessTokenTtl: 600 });
    const port = await freePort();
    workerMetrics = `http://127.0.0.1:${port}/metrics`;
    stack = await startStack({
      name: 'metrics',
      // One transient failure, then the retry is far away: the counts stay exact.
      env: { TK_BACKOFF_BASE_MS: '600000', TK_BACKOFF_CAP_MS: '600000' },
      workerEnv: { OTEL_EXPORTER_PROMETHEUS_PORT: String(port), OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1' },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await oauth?.stop();
  });

  it('counts successes, transient and permanent failures, and exports parseable Prometheus text', async () => {
    const client = stack.admin;
    const cc = oauth.clients.clientCredentials;
    const post = oauth.clients.post;
    const register = async (body: Record<string, unknown>) => {
      const res = await client.post<CredentialView>('/v1/credentials', body);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.id;
    };
    const ccBody = {
      kind: 'oauth2.client_credentials',
      issuer: oauth.issuer,
      clientId: cc.clientId,
      clientSecret: cc.clientSecret,
      scope: 'api',
    };
    const ok1 = await register(ccBody);
    const ok2 = await register(ccBody);
    const permanent = await register({
      kind: 'oauth2.refresh_token',
      issuer: oauth.issuer,
      clientId: post.clientId,
      clientAuth: 'client_secret_post',
      clientSecret: post.clientSecret,
      refreshToken: 'never-issued',
    });
    const closed = await freePort();
    const transient = await register({ ...ccBody, tokenEndpoint: `http://127.0.0.1:${closed}/token` });

    const view = async (id: string) => (await client.get<CredentialView>(`/v1/credentials/${id}`)).body;
    await waitFor(
      async () => {
        const [a, b, p, t] = await Promise.all([ok1, ok2, permanent, transient].map(view));
        return (
          a!.state === 'active' && b!.state === 'active' && p!.state === 'reauth_required' && t!.failures >= 1
        );
      },
      { timeoutMs: 30_000, message: 'two active, one reauth_required, one failing' },
    );

    // The worker: counters and histograms of the refreshes it ran.
    const w = await waitFor(
      async () => {
        const res = await scrape(workerMetrics);
        const f = parsePrometheusText(res.text);
        return sampleValue(f, 'tokenkeeper_refreshes_total', { outcome: 'transient' }) === 1
          ? { res, f }
          : undefined;
      },
      { timeoutMs: 10_000, message: 'worker counted the transient failure' },
    );
    expect(w.res.status).toBe(200);
    expect(w.res.type).toMatch(/^text\/plain/);
    const wf = w.f;
    expect(wf.get('tokenkeeper_refreshes_total')?.type ?? wf.get('tokenkeeper_refreshes')?.type).toBe(
      'counter',
    );
    const refreshes = (kind: string, outcome: string) =>
      sampleValue(wf, 'tokenkeeper_refreshes_total', { kind, outcome }) ?? 0;
    expect(refreshes('oauth2.client_credentials', 'success')).toBe(2);
    expect(refreshes('oauth2.client_credentials', 'transient')).toBe(1);
    expect(refreshes('oauth2.refresh_token', 'permanent')).toBe(1);
    expect(refreshes('oauth2.refresh_token', 'success')).toBe(0);
    const durationCount = (outcome: string, kind: string) =>
      sampleValue(wf, 'tokenkeeper_refresh_duration_count', { kind, outcome }) ?? 0;
    expect(durationCount('success', 'oauth2.client_credentials')).toBe(2);
    expect(durationCount('permanent', 'oauth2.refresh_token')).toBe(1);
    expect(sampleValue(wf, 'tokenkeeper_refresh_lateness_count', { kind: 'oauth2.client_credentials' })).toBe(
      3,
    );
    // No credential id (or anything high-cardinality) as a label.
    for (const id of [ok1, ok2, permanent, transient]) expect(w.res.text).not.toContain(id);

    // The api: gauges of the fleet, behind the metrics:read scope.
    const apiMetrics = `${stack.url}/metrics`;
    expect((await scrape(apiMetrics)).status).toBe(401);
    const key = async (scopes: string[]) =>
      (await client.post<CreatedApiKey>('/v1/api-keys', { name: `m-${scopes.join('-')}`, scopes })).body.key;
    expect((await scrape(apiMetrics, await key(['token:read']))).status).toBe(403);
    const reader = await key(['metrics:read']);
    const a = await scrape(apiMetrics, reader);
    expect(a.status).toBe(200);
    expect(a.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const af = parsePrometheusText(a.text);
    expect(af.get('tokenkeeper_credentials')?.type).toBe('gauge');
    expect(sampleValue(af, 'tokenkeeper_credentials', { state: 'active' })).toBe(2);
    expect(sampleValue(af, 'tokenkeeper_credentials', { state: 'reauth_required' })).toBe(1);
    expect(sampleValue(af, 'tokenkeeper_credentials', { state: 'pending' })).toBe(1);
    const soonest = sampleValue(af, 'tokenkeeper_token_soonest_expiry');
    expect(soonest).toBeGreaterThan(500);
    expect(soonest).toBeLessThanOrEqual(600);
    // Next refreshes of the two active ones and the transient retry wait as delayed jobs.
    expect(sampleValue(af, 'tokenkeeper_queue_jobs', { queue: 'token-refresh', state: 'delayed' })).toBe(3);
    expect(sampleValue(af, 'tokenkeeper_queue_jobs', { queue: 'webhook-delivery', state: 'failed' })).toBe(0);
    expect((await scrape(apiMetrics, TEST_ADMIN_KEY)).status).toBe(200);
  });

  it('gives a metrics:read key of another namespace its own figures only, never the fleet’s', async () => {
    const admin = stack.admin;
    const key = async (namespace: string, scopes: string[]) => {
      const res = await admin.post<CreatedApiKey>('/v1/api-keys', {
        name: `${namespace}-key`,
        namespace,
        scopes,
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.key;
    };
    const tenant = stack.client({ authorization: `Bearer ${await key('tenant-b', ['admin'])}` });
    const cc = oauth.clients.clientCredentials;
    const registered = await tenant.post<CredentialView>('/v1/credentials', {
      kind: 'oauth2.client_credentials',
      issuer: oauth.issuer,
      clientId: cc.clientId,
      clientSecret: cc.clientSecret,
    });
    expect(registered.status, JSON.stringify(registered.body)).toBe(201);
    const reader = await key('tenant-b', ['metrics:read']);
    const apiMetrics = `${stack.url}/metrics`;

    // The scan is reused for 15 s: wait until it includes the new credential.
    const own = await waitFor(
      async () => {
        const res = await scrape(apiMetrics, reader);
        const f = parsePrometheusText(res.text);
        const total = CREDENTIAL_STATES.reduce(
          (sum, state) =>
            sum + (sampleValue(f, 'tokenkeeper_credentials', { namespace: 'tenant-b', state }) ?? 0),
          0,
        );
        return res.status === 200 && total === 1 ? res : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500, message: 'tenant-b sees its one credential' },
    );
    expect(own.type).toMatch(/^text\/plain; version=0\.0\.4/);
    // Only its own namespace: no other namespace's counts, no fleet-wide queue or process figures.
    const namespaces = [...own.text.matchAll(/namespace="([^"]*)"/g)].map((m) => m[1]);
    expect(new Set(namespaces)).toEqual(new Set(['tenant-b']));
    expect(own.text).not.toContain('tokenkeeper_queue_jobs');
    expect(own.text).not.toContain('http_server');
    const counts = [...own.text.matchAll(/^tokenkeeper_credentials\{[^}]*\} (\d+)$/gm)].map((m) =>
      Number(m[1]),
    );
    expect(counts.reduce((a, b) => a + b, 0)).toBe(1);

    // The operator namespace's reader still sees the whole fleet (the four of the first test and this one).
    const operator = parsePrometheusText((await scrape(apiMetrics, TEST_ADMIN_KEY)).text);
    const fleet = CREDENTIAL_STATES.reduce(
      (sum, state) => sum + (sampleValue(operator, 'tokenkeeper_credentials', { state }) ?? 0),
      0,
    );
    expect(fleet).toBe(5);
  });
});
