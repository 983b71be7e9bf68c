import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJwtIssuer, type TestJwtIssuer } from '../support/jwt-issuer.js';
import { freePort } from '../support/net.js';
import {
  type AppProcess,
  apiClient,
  startApp,
  TEST_ENCRYPTION_KEYS,
  TEST_SECURITY_ENV,
} from '../support/processes.js';
import { dumpRedis, leakedSecrets } from '../support/redis-dump.js';
import { type RedisServer, startRedis, uniquePrefix } from '../support/redis-server.js';
import { startVaultServer, type VaultServer, writeFileAtomically } from '../support/vault-server.js';
import { sleep, waitFor } from '../support/wait.js';

interface View {
  id: string;
  state: string;
  tokenVersion: number;
  lastFailure?: { code: string; class: string };
}
interface TokenBody {
  accessToken: string;
  tokenType: string;
  tokenVersion: number;
  expiresAt: string;
}
interface Readiness {
  status: string;
  info?: Record<string, unknown>;
  error?: { criticalCredentials?: { credentials: Record<string, { ready: boolean; reason?: string }> } };
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RUN_MS = 36_000;
const ROTATE_MS = 15_000;

/**
 * Seed 003 (JWT-SVID → Vault): the backend lost Vault after an hour because it logged in once
 * with a JWT-SVID and never again. Here spiffe-helper is played by the test, rewriting a JWT
 * file atomically every 15 s with short-lived JWTs; a `vault.jwt_login` credential against a
 * Vault-compatible server (8 s tokens, renewable, max TTL 20 s) must hold a valid Vault token
 * across several TTLs, by renew-self and by fresh logins; and an api that lists the credentials
 * as critical is not ready while one of them cannot log in.
 */
describe('seed 003: JWT-SVID file → Vault login stays valid; readiness reflects it', () => {
  let redis: RedisServer;
  let vault: VaultServer;
  let spire: TestJwtIssuer;
  let api: AppProcess;
  let worker: AppProcess;
  let critical: { url: string; child: ChildProcess; logs: () => string } | undefined;
  let dir: string;
  let env: Record<string, string>;
  const secrets = new Set<string>();

  beforeAll(async () => {
    spire = await createJwtIssuer();
    vault = await startVaultServer({
      jwks: spire.jwks,
      roles: { backend: { boundAudience: 'vault' } },
      ttlSeconds: 8,
      maxTtlSeconds: 20,
    });
    dir = mkdtempSync(join(tmpdir(), 'tk-seed003-'));
    redis = await startRedis();
    env = {
      REDIS_URL: redis.url,
      TK_REDIS_PREFIX: uniquePrefix('seed003'),
      TK_SWEEP_INTERVAL_MS: '5000',
      // A credential that cannot log in retries at most every 2 s here (5 min in production).
      TK_BACKOFF_CAP_MS: '2000',
      // spiffe-helper's output directory: the only place file token sources may be read from.
      TK_FILE_SOURCE_DIRS: dir,
    };
    [api, worker] = await Promise.all([startApp('api', env), startApp('worker', env)]);
  });

  afterAll(async () => {
    critical?.child.kill('SIGTERM');
    await Promise.all([api?.stop(), worker?.stop()]);
    await vault?.stop();
    await redis?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps a valid Vault token past several TTLs through renew-self and re-login, and readiness follows the logins', async () => {
    const client = apiClient(api.url!);
    const svidFile = join(dir, 'jwt_svid.token');
    const brokenFile = join(dir, 'other_svid.token');
    const writeSvid = async (file: string, ttlSeconds: number) => {
      const jwt = await spire.sign({ ttlSeconds });
      secrets.add(jwt);
      await writeFileAtomically(file, jwt);
    };
    await writeSvid(svidFile, 30);
    // The second credential's file holds a JWT that expired: Vault refuses every login with it.
    await writeSvid(brokenFile, -60);

    const register = (name: string, jwtFile: string) =>
      client.post<View>('/v1/credentials', {
        kind: 'vault.jwt_login',
        name,
        vaultAddr: vault.url,
        mount: 'jwt',
        role: 'backend',
        jwtFile,
        maxTtlSeconds: 20,
      });
    const good = await register('backend-vault', svidFile);
    expect(good.status, JSON.stringify(good.body)).toBe(201);
    const broken = await register('broken-vault', brokenFile);
    expect(broken.status, JSON.stringify(broken.body)).toBe(201);

    // An api for which both credentials are critical: not ready while `broken` cannot log in.
    critical = await startCriticalApi({
      ...env,
      TK_READY_CRITICAL_CREDENTIALS: `${good.body.id},${broken.body.id}`,
    });
    const readiness = async () => {
      const res = await fetch(`${critical!.url}/health/ready`);
      return { status: res.status, body: (await res.json()) as Readiness };
    };

    // spiffe-helper: a fresh 30 s JWT-SVID every 15 s, written atomically.
    let rotations = 0;
    const rotator = setInterval(() => {
      rotations += 1;
      void writeSvid(svidFile, 30);
    }, ROTATE_MS);

    const invalid: string[] = [];
    const tokens = new Set<string>();
    const readyStatuses: number[] = [];
    let brokenFixedAt: number | undefined;
    const start = Date.now();
    try {
      while (Date.now() - start < RUN_MS) {
        const res = await client.get<TokenBody>(`/v1/credentials/${good.body.id}/token?minTtl=1`);
        if (res.status === 200) {
          secrets.add(res.body.accessToken);
          tokens.add(res.body.accessToken);
          const info = vault.lookup(res.body.accessToken);
          if (!info.valid) invalid.push(`v${res.body.tokenVersion} at +${Date.now() - start} ms`);
        } else if (Date.now() - start > 3000) {
          // Only the very first read may race the first login.
          invalid.push(`status ${res.status} at +${Date.now() - start} ms: ${JSON.stringify(res.body)}`);
        }
        const ready = await readiness();
        readyStatuses.push(ready.status);
        if (brokenFixedAt === undefined && Date.now() - start > RUN_MS / 2) {
          // Before the fix the api is not ready, and says which credential and why.
          expect(ready.status, JSON.stringify(ready.body)).toBe(503);
          const down = ready.body.error?.criticalCredentials?.credentials[broken.body.id];
          expect(down, JSON.stringify(ready.body)).toMatchObject({
            ready: false,
            reason: 'VAULT_LOGIN_REFUSED',
          });
          // spiffe-helper recovers: a valid JWT lands in the broken file.
          await writeSvid(brokenFile, 60);
          brokenFixedAt = Date.now();
        }
        await sleep(400);
      }
    } finally {
      clearInterval(rotator);
    }

    expect(invalid).toEqual([]);
    expect(rotations).toBeGreaterThanOrEqual(2);
    // 36 s of 8 s tokens with a 20 s max TTL: both paths taken several times.
    const counters = vault.counters;
    expect(counters.renewals, JSON.stringify(counters)).toBeGreaterThanOrEqual(3);
    expect(counters.logins, JSON.stringify(counters)).toBeGreaterThanOrEqual(3 + 1);
    expect(tokens.size).toBeGreaterThanOrEqual(2);

    // The broken credential recovered once its file held a valid JWT, and the api became ready.
    await waitFor(async () => (await readiness()).status === 200, {
      timeoutMs: 8000,
      message: 'critical api ready after the JWT file was fixed',
    });
    expect(readyStatuses[0]).toBe(503);
    const brokenView = await client.get<View>(`/v1/credentials/${broken.body.id}`);
    expect(brokenView.body.state).toBe('active');

    const events = await client.get<{ items: { type: string; data: Record<string, unknown> }[] }>(
      `/v1/credentials/${good.body.id}/events?limit=1000`,
    );
    const updates = events.body.items.filter((e) => e.type === 'token.updated');
    expect(updates.length).toBeGreaterThanOrEqual(6);
    expect(events.body.items.some((e) => e.type === 'refresh.failed')).toBe(false);
  });

  it('keeps Vault tokens and JWTs out of Redis, job data and the logs', async () => {
    expect(secrets.size).toBeGreaterThanOrEqual(5);
    const stored = await dumpRedis(redis.url);
    expect(leakedSecrets(stored, secrets)).toEqual([]);
    const logs = [api.logs(), worker.logs(), critical?.logs() ?? ''].join('\n');
    expect(leakedSecrets(logs, secrets)).toEqual([]);
  });
});

/**
 * Starts an api that is expected NOT to be ready yet (startApp waits for a 200), and waits only
 * until it answers /health/ready at all.
 */
async function startCriticalApi(env: Record<string, string>) {
  const port = await freePort();
  let output = '';
  const child = spawn(process.execPath, ['dist/apps/api/src/main.js'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      TK_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
      TK_LOG_LEVEL: 'info',
      TK_API_HOST: '127.0.0.1',
      ...TEST_SECURITY_ENV,
      ...env,
      TK_API_PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  process.once('exit', () => child.kill('SIGKILL'));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`critical api exited:\n${output.slice(-3000)}`);
      const res = await fetch(`${url}/health/ready`).catch(() => undefined);
      return res !== undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100, message: 'critical api answers' },
  );
  return { url, child, logs: () => output };
}
