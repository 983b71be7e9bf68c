import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiReadiness, CredentialView, EventBody, Page, TokenBody } from '../support/api-types.js';
import { createJwtIssuer, type TestJwtIssuer } from '../support/jwt-issuer.js';
import { dumpRedis, leakedSecrets } from '../support/redis-dump.js';
import { type Stack, startStack } from '../support/stack.js';
import { startVaultServer, type VaultServer, writeFileAtomically } from '../support/vault-server.js';
import { sleep, waitFor } from '../support/wait.js';

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
  let stack: Stack;
  let vault: VaultServer;
  let spire: TestJwtIssuer;
  let dir: string;
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
    stack = await startStack({
      name: 'seed003',
      env: {
        TK_SWEEP_INTERVAL_MS: '5000',
        // A credential that cannot log in retries at most every 2 s here (5 min in production).
        TK_BACKOFF_CAP_MS: '2000',
        // spiffe-helper's output directory: the only place file token sources may be read from.
        TK_FILE_SOURCE_DIRS: dir,
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await vault?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps a valid Vault token past several TTLs through renew-self and re-login, and readiness follows the logins', async () => {
    const client = stack.admin;
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
      client.post<CredentialView>('/v1/credentials', {
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
    // Not ready until `broken` can log in: wait only until it answers at all.
    const critical = await stack.start(
      'api',
      { TK_READY_CRITICAL_CREDENTIALS: `${good.body.id},${broken.body.id}` },
      'api-critical',
      [],
      'answering',
    );
    const readiness = async () => {
      const res = await fetch(`${critical.url}/health/ready`);
      return { status: res.status, body: (await res.json()) as ApiReadiness };
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
        await sleep(400); // the readers' pace over the run: sampling, not waiting for something
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
    const brokenView = await client.get<CredentialView>(`/v1/credentials/${broken.body.id}`);
    expect(brokenView.body.state).toBe('active');

    const events = await client.get<Page<EventBody>>(`/v1/credentials/${good.body.id}/events?limit=1000`);
    const updates = events.body.items.filter((e) => e.type === 'token.updated');
    expect(updates.length).toBeGreaterThanOrEqual(6);
    expect(events.body.items.some((e) => e.type === 'refresh.failed')).toBe(false);
  });

  it('keeps Vault tokens and JWTs out of Redis, job data and the logs', async () => {
    expect(secrets.size).toBeGreaterThanOrEqual(5);
    const stored = await dumpRedis(stack.redis.url);
    expect(leakedSecrets(stored, secrets)).toEqual([]);
    const logs = stack.logs();
    expect(leakedSecrets(logs, secrets)).toEqual([]);
  });
});
