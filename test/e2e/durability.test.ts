import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CredentialView } from '../support/api-types.js';
import { freePort } from '../support/net.js';
import { type AppProcess, apiClient, startApp } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

const CONF = fileURLToPath(new URL('../../deploy/redis/redis.conf', import.meta.url));
const GENERATE_SECRETS = fileURLToPath(new URL('../../deploy/generate-secrets.sh', import.meta.url));

/**
 * Issue 4, acceptance 5: with the shipped Redis configuration (append-only file, appendfsync
 * everysec), registrations the API acknowledged survive a SIGKILL of Redis: all 500 exist and
 * are scheduled after the restart. The shipped configuration also closes Redis: the ACL file
 * written by deploy/generate-secrets.sh, the default user off, each process its own user.
 */
describe('durability with the shipped redis.conf', () => {
  let dir: string;
  let port: number;
  let redis: ChildProcess | undefined;
  let api: AppProcess;
  // The shipped ACL file grants tokenkeeper's users the keys of the default prefix.
  const prefix = 'tk';
  const password = (user: string) =>
    readFileSync(join(dir, 'secrets', `redis-${user}-password`), 'utf8').trim();
  const client = (user?: string) =>
    new Redis({
      port,
      host: '127.0.0.1',
      ...(user ? { username: `tokenkeeper-${user}`, password: password(user) } : {}),
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    });
  const pong = async () => {
    const r = client('api');
    r.on('error', () => {});
    try {
      await r.connect();
      return (await r.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      r.disconnect();
    }
  };

  const startRedisWithShippedConf = async () => {
    redis = spawn(
      'redis-server',
      [
        CONF,
        '--port',
        String(port),
        '--dir',
        dir,
        '--bind',
        '127.0.0.1',
        '--aclfile',
        join(dir, 'secrets', 'redis-users.acl'),
      ],
      { stdio: 'ignore' },
    );
    await waitFor(pong, { timeoutMs: 10_000, message: 'redis up' });
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tk-durable-'));
    const generated = spawnSync('bash', [GENERATE_SECRETS, join(dir, 'secrets')], { encoding: 'utf8' });
    expect(generated.status, generated.stderr).toBe(0);
    port = await freePort();
    await startRedisWithShippedConf();
    api = await startApp('api', {
      REDIS_URL: `redis://tokenkeeper-api@127.0.0.1:${port}`,
      REDIS_PASSWORD_FILE: join(dir, 'secrets', 'redis-api-password'),
      TK_REDIS_PREFIX: prefix,
    });
  });

  it('refuses clients without a user and password, and tokenkeeper’s users cannot administer it', async () => {
    // deploy/generate-secrets.sh wrote every secret 0400 in a 0700 directory.
    const secrets = join(dir, 'secrets');
    expect(statSync(secrets).mode & 0o777).toBe(0o700);
    const files = readdirSync(secrets);
    expect(files.sort()).toEqual(
      [
        'api-key-hmac-key',
        'bootstrap-admin-key',
        'encryption-keys',
        'redis-api-password',
        'redis-keda-password',
        'redis-users.acl',
        'redis-worker-password',
      ].sort(),
    );
    for (const f of files) expect(statSync(join(secrets, f)).mode & 0o777, f).toBe(0o400);

    // Raw RESP, since a client library would try to sign in first.
    const anonymous = (command: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = createConnection({ host: '127.0.0.1', port }, () => socket.write(command));
        socket.once('data', (d) => {
          socket.destroy();
          resolve(d.toString());
        });
        socket.once('error', reject);
      });
    expect(await anonymous('PING\r\n')).toMatch(/^-NOAUTH/);
    expect(await anonymous('*2\r\n$3\r\nGET\r\n$11\r\ntk:{g}:keys\r\n')).toMatch(/^-NOAUTH/);
    const worker = client('worker');
    try {
      await worker.connect();
      expect(await worker.ping()).toBe('PONG');
      await expect(worker.call('CONFIG', 'GET', 'requirepass')).rejects.toThrow(/NOPERM/);
      await expect(worker.call('ACL', 'LIST')).rejects.toThrow(/NOPERM/);
      await expect(worker.call('FLUSHALL')).rejects.toThrow(/NOPERM/);
      await expect(worker.get('other-app:key')).rejects.toThrow(/NOPERM/);
    } finally {
      worker.disconnect();
    }
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
          const res = await client.post<CredentialView>('/v1/credentials', {
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
      ids.map(async (id) => (await client.get<CredentialView>(`/v1/credentials/${id}`)).body),
    );
    expect(
      views.filter((v) => v.state === 'active' && v.tokenVersion === 1).length,
      JSON.stringify(views[0]),
    ).toBe(500);

    const queue = new Queue('token-refresh', {
      connection: { host: '127.0.0.1', port, username: 'tokenkeeper-api', password: password('api') },
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
