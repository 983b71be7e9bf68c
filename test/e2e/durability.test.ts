import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, redisPing } from '../support/net.js';
import { type AppProcess, apiClient, startApp } from '../support/processes.js';
import { uniquePrefix } from '../support/redis-server.js';
import { waitFor } from '../support/wait.js';

const CONF = fileURLToPath(new URL('../../deploy/redis/redis.conf', import.meta.url));

/**
 * Issue 4, acceptance 5: with the shipped Redis configuration (append-only file, appendfsync
 * everysec), registrations the API acknowledged survive a SIGKILL of Redis: all 500 exist and
 * are scheduled after the restart.
 */
describe('durability with the shipped redis.conf', () => {
  let dir: string;
  let port: number;
  let redis: ChildProcess | undefined;
  let api: AppProcess;
  const prefix = uniquePrefix('durable');

  const startRedisWithShippedConf = async () => {
    redis = spawn('redis-server', [CONF, '--port', String(port), '--dir', dir, '--bind', '127.0.0.1'], {
      stdio: 'ignore',
    });
    await waitFor(() => redisPing(port), { timeoutMs: 10_000, message: 'redis up' });
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tk-durable-'));
    port = await freePort();
    await startRedisWithShippedConf();
    api = await startApp('api', { REDIS_URL: `redis://127.0.0.1:${port}`, TK_REDIS_PREFIX: prefix });
  });

  afterAll(async () => {
    await api?.stop();
    redis?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps all 500 acknowledged registrations and their schedules across a SIGKILL', async () => {
    const client = apiClient(api.url!);
    const ids: string[] = [];
    for (let batch = 0; batch < 500; batch += 50) {
      const made = await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const res = await client.post<{ id: string }>('/v1/credentials', {
            kind: 'oauth2.client_credentials',
            name: `durable-${batch + i}`,
            tokenEndpoint: 'http://127.0.0.1:9/oauth/token',
            clientId: 'svc',
            clientSecret: 'durable-secret',
            accessToken: `imported-token-${batch + i}`,
            expiresIn: 3600,
          });
          expect(res.status).toBe(201);
          return res.body.id;
        }),
      );
      ids.push(...made);
    }

    const exited = new Promise((resolve) => redis!.once('exit', resolve));
    redis!.kill('SIGKILL');
    await exited;
    await startRedisWithShippedConf();

    await waitFor(async () => (await fetch(`${api.url}/health/ready`)).status === 200, {
      timeoutMs: 15_000,
      message: 'api ready again',
    });
    const views = await Promise.all(
      ids.map(
        async (id) =>
          (await client.get<{ state: string; tokenVersion: number }>(`/v1/credentials/${id}`)).body,
      ),
    );
    expect(views.filter((v) => v.state === 'active' && v.tokenVersion === 1).length).toBe(500);

    const queue = new Queue('token-refresh', {
      connection: { host: '127.0.0.1', port },
      prefix: `${prefix}:{q}`,
    });
    try {
      const states = await Promise.all(ids.map((id) => queue.getJobState(`r-${id}-t1-a0`)));
      expect(states.filter((s) => s === 'delayed').length).toBe(500);
    } finally {
      await queue.close();
    }
  });
});
