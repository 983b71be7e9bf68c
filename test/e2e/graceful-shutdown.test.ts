import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY_REFERENCE, agentDir, createAgentKey, writeAgentConfig } from '../support/agent.js';
import type { ApiReadiness, CredentialView, EventBody, Page, TokenBody } from '../support/api-types.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { freePort } from '../support/net.js';
import { type OAuthServer, startOAuthServer } from '../support/oauth-server.js';
import type { AppProcess } from '../support/processes.js';
import { type Stack, startStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

const CREDENTIALS = 6;
const WORKER1_CONCURRENCY = 3;
const PROVIDER_LATENCY_MS = 8_000;
/** Deadlines: the worker's TK_SHUTDOWN_TIMEOUT_MS, the api's (same setting), the agent's built-in 5 s grace. */
const WORKER_DEADLINE_MS = 20_000;
const API_DEADLINE_MS = 20_000;
const AGENT_DEADLINE_MS = 5_000;

interface Exit {
  code: number | null;
  ms: number;
}

/** SIGTERM, then the exit code and how long the exit took. */
async function terminate(app: AppProcess): Promise<Exit> {
  const started = Date.now();
  const code = await app.stop(60_000);
  return { code, ms: Date.now() - started };
}

/**
 * Issue 6, acceptance 6: SIGTERM to the api, to a worker and to the agent while refreshes are in
 * flight at a slow provider. Each exits 0 within its deadline; the stopped worker finishes the
 * refreshes it holds (the provider already rotated the refresh token: abandoning the answer
 * would lose it), so no job is lost, no refresh token is presented twice and every credential's
 * versions stay contiguous.
 */
describe('graceful shutdown under load', () => {
  let stack: Stack;
  let oauth: OAuthServer;
  let proxy: FaultProxy;
  let api: AppProcess;
  let worker1: AppProcess;
  let healthPort1: number;

  beforeAll(async () => {
    oauth = await startOAuthServer({ accessTokenTtl: 3600, rotateRefreshToken: true });
    proxy = await startFaultProxy(oauth.issuer);
    healthPort1 = await freePort();
    stack = await startStack({
      name: 'shutdown',
      env: {
        // Readers here ask for (almost) a token's whole lifetime, to wait for a refresh in flight.
        TK_TOKEN_MIN_TTL_MAX_FRACTION: '1',
        TK_SHUTDOWN_TIMEOUT_MS: String(WORKER_DEADLINE_MS),
      },
      workerEnv: {
        // Three refreshes at a time: the other three wait in the queue and go to worker-2.
        TK_WORKER_CONCURRENCY: String(WORKER1_CONCURRENCY),
        TK_WORKER_HEALTH_PORT: String(healthPort1),
        TK_WORKER_HEALTH_HOST: '127.0.0.1',
      },
    });
    ({ api, worker: worker1 } = stack);
  });

  afterAll(async () => {
    await stack?.stop();
    await proxy?.stop();
    await oauth?.stop();
  });

  /** How many of `ids` a token read has claimed a read-triggered refresh for (the gate's key per credential). */
  const readRefreshesClaimed = async (ids: string[]): Promise<number> => {
    const redis = new Redis(stack.redis.url);
    try {
      const claimed = await Promise.all(
        ids.map(async (id) => (await redis.keys(`${stack.prefix}*:rr:${id}`)).length),
      );
      return claimed.filter((n) => n > 0).length;
    } finally {
      redis.disconnect();
    }
  };

  it('api, worker and agent exit 0 within their deadlines and no refresh is lost', async () => {
    const client = stack.admin;
    const { clientId, clientSecret } = oauth.clients.basic;
    const ids: string[] = [];
    for (let i = 0; i < CREDENTIALS; i++) {
      const issued = await oauth.issueRefreshToken('basic');
      const reg = await client.post<CredentialView>('/v1/credentials', {
        kind: 'oauth2.refresh_token',
        name: `rotating-${i}`,
        issuer: oauth.issuer,
        tokenEndpoint: oauth.tokenEndpoint.replace(oauth.issuer, proxy.url),
        clientId,
        clientAuth: 'client_secret_basic',
        clientSecret,
        refreshToken: issued.refreshToken,
      });
      expect(reg.status, JSON.stringify(reg.body)).toBe(201);
      ids.push(reg.body.id);
    }
    const versions = async () =>
      Promise.all(
        ids.map(async (id) => (await client.get<CredentialView>(`/v1/credentials/${id}`)).body.tokenVersion),
      );
    await waitFor(async () => (await versions()).every((v) => v === 1), {
      timeoutMs: 20_000,
      message: 'first tokens',
    });

    // The worker's probes: ready while it runs, with the feed consumer's lag in the body.
    const probe = (path: string) => fetch(`http://127.0.0.1:${healthPort1}${path}`);
    expect((await probe('/health/live')).status).toBe(200);
    const ready = await probe('/health/ready');
    const readyBody = (await ready.json()) as Required<ApiReadiness>;
    expect(ready.status, JSON.stringify(readyBody)).toBe(200);
    expect(Object.keys(readyBody.details).sort()).toEqual(['feedConsumer', 'redis', 'refreshWorker']);
    const apiReady = await fetch(`${stack.url}/health/ready`);
    expect(((await apiReady.json()) as { details: Record<string, unknown> }).details).toHaveProperty(
      'feedConsumer',
    );

    // The agent watches the first credential.
    const agentKey = await createAgentKey(stack.url);
    const dir = agentDir('shutdown');
    const agentHealth = await freePort();
    const config = writeAgentConfig(dir, {
      api: { url: stack.url, apiKey: API_KEY_REFERENCE, pollIntervalSeconds: 2 },
      health: { port: agentHealth },
      credentials: [
        {
          id: ids[0],
          sinks: [{ type: 'file', format: 'oauth-tokens-json', path: join(dir, 'token.json') }],
        },
      ],
    });
    const agent = await stack.startAgent(config, agentKey);
    await waitFor(
      async () =>
        (await fetch(`http://127.0.0.1:${agentHealth}/ready`).catch(() => undefined))?.status === 200,
      { timeoutMs: 20_000, message: 'agent ready' },
    );

    // Slow provider; every credential refreshes now: three at a time on worker-1 (the only
    // worker so far), the rest wait in the queue until worker-2 starts and takes them.
    await proxy.set({ latencyMs: PROVIDER_LATENCY_MS });
    proxy.resetStats();
    for (const id of ids) expect((await client.post(`/v1/credentials/${id}/refresh`)).status).toBe(202);
    await waitFor(async () => proxy.stats.received >= WORKER1_CONCURRENCY, {
      timeoutMs: 10_000,
      message: 'refreshes in flight at the provider',
    });
    // Requests in flight at the api when it stops: each asks for more runway than the token has,
    // so it waits for the refresh running on worker-1 or queued for worker-2. The api answers them
    // before it exits.
    const waiting = ids.map((id) =>
      client
        .get<TokenBody>(`/v1/credentials/${id}/token?minTtl=3599`)
        .then((r) => `${r.status} v${r.body.tokenVersion}`)
        .catch((err: Error) => `failed: ${err.message}`),
    );
    // Each read has reached the api's token service: it claimed the credential's read-triggered
    // refresh, and waits for the refresh already running or queued.
    await waitFor(async () => (await readRefreshesClaimed(ids)) === CREDENTIALS, {
      timeoutMs: 10_000,
      message: 'every token read waiting for its refresh',
    });
    // Only now the second worker: a read that came after worker-1 had finished a refresh would see
    // the new token with less runway than it asks for, and rightly demand one more.
    const worker2 = await stack.start('worker', {}, 'worker-2');
    const stopping = [terminate(worker1), terminate(api), terminate(agent)];
    // From the signal on, the worker's readiness is down (503, then its probe port closes) while
    // it still runs, finishing the refreshes it holds (they take PROVIDER_LATENCY_MS).
    const notReady = await waitFor(
      async () => {
        const status = await probe('/health/ready').then(
          (r) => r.status,
          () => 'closed' as const,
        );
        return status === 200 ? undefined : { status, running: worker1.exitCode === null };
      },
      { timeoutMs: PROVIDER_LATENCY_MS / 2, message: 'worker-1 not ready once signalled' },
    );
    expect([503, 'closed']).toContain(notReady.status);
    expect(notReady.running).toBe(true);
    const [w1, a, ag] = (await Promise.all(stopping)) as [Exit, Exit, Exit];
    const answers = await Promise.all(waiting);

    expect(w1.code, worker1.logs().slice(-3000)).toBe(0);
    expect(w1.ms).toBeLessThan(WORKER_DEADLINE_MS);
    expect(a.code, api.logs().slice(-3000)).toBe(0);
    expect(a.ms).toBeLessThan(API_DEADLINE_MS);
    expect(ag.code, agent.logs().slice(-3000)).toBe(0);
    expect(ag.ms).toBeLessThan(AGENT_DEADLINE_MS + 2_000);
    expect(answers).toEqual(ids.map(() => '200 v2'));
    // worker-1 finished the refreshes it had started; worker-2 did the ones that were waiting.
    const refreshedBy = (app: AppProcess) =>
      app
        .logs()
        .split('\n')
        .filter((l) => l.includes('"token refreshed"')).length;
    expect(refreshedBy(worker1)).toBe(CREDENTIALS + WORKER1_CONCURRENCY);
    expect(refreshedBy(worker2)).toBe(CREDENTIALS - WORKER1_CONCURRENCY);
    console.info(
      `exit times: worker ${w1.ms} ms, api ${a.ms} ms, agent ${ag.ms} ms; in-flight api requests ${JSON.stringify(answers)}`,
    );

    // Back with a new api: every refresh completed once, versions contiguous, no reuse at the provider.
    await api.start();
    await waitFor(async () => (await versions()).every((v) => v === 2), {
      timeoutMs: 20_000,
      message: 'every requested refresh done',
    });
    for (const id of ids) {
      const { body } = await client.get<Page<EventBody>>(`/v1/credentials/${id}/events?limit=1000`);
      const events = body.items;
      expect(events.map((e) => e.revision)).toEqual(events.map((_, i) => i + 1));
      const updates = events.filter((e) => e.type === 'token.updated');
      expect(updates.map((e) => e.data.tokenVersion)).toEqual([1, 2]);
      expect(events.some((e) => e.type === 'refresh.failed')).toBe(false);
    }
    expect(oauth.counters.invalidGrant).toBe(0);
    expect(oauth.counters.refreshTokenReuse).toBe(0);

    // The other worker still stops cleanly (idle).
    const w2 = await terminate(worker2);
    expect(w2.code, worker2.logs().slice(-3000)).toBe(0);
  });
});
