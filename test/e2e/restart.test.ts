import { describe, expect, it } from 'vitest';
import type { CredentialView } from '../support/api-types.js';
import { useStack } from '../support/stack.js';
import { sleep, waitFor } from '../support/wait.js';

/**
 * Issue 2, acceptance 5: every process restarts mid-run — api, both workers, and Redis killed
 * outright and brought back from its append-only file — and every credential is still scheduled
 * and refreshing afterwards, with no refresh token presented twice.
 */
describe('restart of every process', () => {
  const stack = useStack({
    name: 'restart',
    oauth: { accessTokenTtl: 10 },
    env: { TK_SWEEP_INTERVAL_MS: '5000' },
    workers: 2,
    redis: { appendonly: true },
  });

  it('keeps refreshing every credential after api, workers and Redis restart', async () => {
    const client = stack.admin;
    stack.oauth.resetCounters();
    const ids: string[] = [];
    for (const key of ['basic', 'post', 'public'] as const) {
      const c = stack.oauth.clients[key];
      const issued = await stack.oauth.issueRefreshToken(key);
      const res = await client.post<CredentialView>('/v1/credentials', {
        kind: 'oauth2.refresh_token',
        issuer: stack.oauth.issuer,
        clientId: c.clientId,
        clientAuth: c.authMethod,
        ...(c.clientSecret ? { clientSecret: c.clientSecret } : {}),
        refreshToken: issued.refreshToken,
        policy: { minBufferSeconds: 1 },
      });
      expect(res.status).toBe(201);
      ids.push(res.body.id);
    }
    const versions = async () =>
      Promise.all(
        ids.map(async (id) => (await client.get<CredentialView>(`/v1/credentials/${id}`)).body.tokenVersion),
      );
    await waitFor(async () => (await versions()).every((v) => v >= 2), {
      timeoutMs: 30_000,
      message: 'two refreshes each',
    });
    const before = await versions();

    // Everything goes down: workers and api stop, Redis is killed without a chance to flush.
    await Promise.all(stack.processes.map((a) => a.stop()));
    await stack.redis.kill();
    await sleep(1_000); // a second of downtime, as in a real crash
    await stack.redis.restart();
    for (const app of stack.processes) await app.start();

    const after = await waitFor(
      async () => {
        const v = await versions();
        return v.every((n, i) => n >= before[i]! + 2) ? v : undefined;
      },
      { timeoutMs: 40_000, message: 'two more refreshes each after the restart' },
    );
    expect(after.length).toBe(3);
    const states = await Promise.all(
      ids.map(async (id) => (await client.get<CredentialView>(`/v1/credentials/${id}`)).body.state),
    );
    expect(states).toEqual(['active', 'active', 'active']);
    expect(stack.oauth.counters.invalidGrant).toBe(0);
  });
});
