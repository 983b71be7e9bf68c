import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedApiKey, CredentialView, EventBody, Page, Problem } from '../support/api-types.js';
import { type AppProcess, apiClient, runToExit, TEST_ENCRYPTION_KEYS } from '../support/processes.js';
import { type Stack, startStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

interface CapturedRequest {
  method: string;
  url: string;
  body: string;
}

/**
 * Plays the attacker's Vault and token endpoint: records every request it gets and answers as a
 * Vault login and an OAuth token response at once, so a file read that is let through shows up here.
 */
async function startCapture(): Promise<{ url: string; requests: CapturedRequest[]; stop(): Promise<void> }> {
  const requests: CapturedRequest[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', body });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          auth: { client_token: 'hvs.captured', lease_duration: 3600, renewable: false },
          access_token: 'captured-access-token',
          token_type: 'Bearer',
          expires_in: 3600,
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A problem body without what legitimately differs between two requests. */
const comparable = (res: { status: number; body: unknown }) => {
  const { requestId: _r, traceId: _t, ...rest } = res.body as Record<string, unknown>;
  return { status: res.status, body: rest };
};

/**
 * Finding 1 of the security review, replayed: a key holding only `credentials:write` names a
 * server file (`/proc/self/environ`, `/etc/hostname`) as `jwtFile` / `subjectTokenFile` with its
 * own server as Vault or token endpoint. File sources are off unless the operator lists
 * directories in TK_FILE_SOURCE_DIRS; inside them, the worker resolves every path and refuses
 * links leading out, and nothing tells a caller whether a path outside exists.
 */
describe('file token sources', () => {
  let plain: Stack;
  let dirs: Stack;
  let root: string;
  let allowed: string;
  let outside: string;
  /** Default configuration: no TK_FILE_SOURCE_DIRS. */
  let plainApi: AppProcess;
  /** An api that allows `allowed`, in front of the worker that does not (the setting changed). */
  let laterApi: AppProcess;
  /** api and worker that both allow `allowed`. */
  let dirsApi: AppProcess;
  const OUTSIDE_CONTENT = 'OUTSIDE-FILE-CONTENT-7f3a';
  const INSIDE_TOKEN = 'inside-allowed-dir-jwt-5c1d';

  /** A key with only `credentials:write` (and `credentials:read`/`events:read` to watch the outcome). */
  const writerKey = async (api: AppProcess) => {
    const res = await apiClient(api.url!).post<CreatedApiKey>('/v1/api-keys', {
      name: 'writer',
      namespace: 'default',
      scopes: ['credentials:write', 'credentials:read', 'events:read'],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return apiClient(api.url!, { authorization: `Bearer ${res.body.key}` });
  };

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'tk-file-sources-e2e-'));
    allowed = join(root, 'allowed');
    outside = join(root, 'outside');
    mkdirSync(allowed);
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret'), OUTSIDE_CONTENT);
    writeFileSync(join(allowed, 'jwt'), `${INSIDE_TOKEN}\n`);
    symlinkSync(join(outside, 'secret'), join(allowed, 'link-out'));
    symlinkSync(join(outside, 'absent'), join(allowed, 'link-out-dangling'));
    // One after another: five processes booting at once can starve a small shared machine.
    plain = await startStack({ name: 'files-plain' });
    plainApi = plain.api;
    laterApi = await plain.start('api', { TK_FILE_SOURCE_DIRS: allowed }, 'api-later');
    dirs = await startStack({ name: 'files-dirs', env: { TK_FILE_SOURCE_DIRS: allowed } });
    dirsApi = dirs.api;
  });

  afterAll(async () => {
    await Promise.all([plain?.stop(), dirs?.stop()]);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('by default refuses jwtFile and subjectTokenFile at registration and on PATCH, naming the field; nothing is sent', async () => {
    const capture = await startCapture();
    try {
      const client = await writerKey(plainApi);
      const vault = await client.post<Problem>('/v1/credentials', {
        kind: 'vault.jwt_login',
        vaultAddr: capture.url,
        role: 'x',
        jwtFile: '/proc/self/environ',
      });
      expect(vault.status).toBe(422);
      expect(vault.body.errors).toEqual([
        {
          field: 'jwtFile',
          message: 'file token sources are disabled on this server: the operator sets TK_FILE_SOURCE_DIRS',
        },
      ]);
      const exchange = await client.post<Problem>('/v1/credentials', {
        kind: 'oauth2.token_exchange',
        tokenEndpoint: `${capture.url}/token`,
        subjectTokenFile: '/etc/hostname',
      });
      expect(exchange.status).toBe(422);
      expect(exchange.body.errors?.map((e) => e.field)).toEqual(['subjectTokenFile']);

      // PATCH a credential (set up by an admin) that takes its JWT from another credential over to a file.
      const admin = apiClient(plainApi.url!);
      const source = await admin.post<CredentialView>('/v1/credentials', {
        kind: 'static',
        accessToken: 'source-token',
        expiresIn: 3600,
      });
      expect(source.status, JSON.stringify(source.body)).toBe(201);
      const target = await admin.post<CredentialView>('/v1/credentials', {
        kind: 'vault.jwt_login',
        vaultAddr: capture.url,
        role: 'x',
        jwtCredentialId: source.body.id,
      });
      expect(target.status, JSON.stringify(target.body)).toBe(201);
      await waitFor(() => capture.requests.length === 1, { timeoutMs: 15_000, message: 'the login' });
      const patched = await client.patch<Problem>(`/v1/credentials/${target.body.id}`, {
        jwtFile: '/proc/self/environ',
      });
      expect(patched.status).toBe(422);
      expect(patched.body.errors?.map((e) => e.field)).toEqual(['jwtFile']);
      // The refused PATCH changed nothing: the credential still takes its JWT from the other credential.
      const after = await client.get<CredentialView>(`/v1/credentials/${target.body.id}`);
      expect(after.body.grant.vault?.jwt).toEqual({ credentialId: source.body.id });

      // Only the login with the source credential's token ever arrived; no file content.
      expect(capture.requests.map((r) => JSON.parse(r.body).jwt)).toEqual(['source-token']);
      expect(JSON.stringify(capture.requests)).not.toContain('TK_ENCRYPTION_KEYS');
      expect(JSON.stringify(capture.requests)).not.toContain(TEST_ENCRYPTION_KEYS);
    } finally {
      await capture.stop();
    }
  });

  it('answers identically for existing and missing paths outside the allowed directories', async () => {
    const capture = await startCapture();
    try {
      for (const api of [plainApi, dirsApi]) {
        const client = await writerKey(api);
        const answer = async (jwtFile: string) =>
          comparable(
            await client.post('/v1/credentials', {
              kind: 'vault.jwt_login',
              vaultAddr: capture.url,
              role: 'x',
              jwtFile,
            }),
          );
        const existing = await answer(join(outside, 'secret'));
        expect(existing.status).toBe(422);
        expect(await answer(join(outside, 'absent'))).toEqual(existing);
        expect(await answer('/etc/hostname')).toEqual(existing);
        expect(await answer('/etc/no-such-file-here')).toEqual(existing);
        expect(await answer('/proc/self/environ')).toEqual(existing);
        expect(JSON.stringify(existing)).not.toContain(outside);
      }
      expect(capture.requests).toEqual([]);
    } finally {
      await capture.stop();
    }
  });

  it('reads a file inside an allowed directory; refuses ".." escapes at the API', async () => {
    const capture = await startCapture();
    try {
      const client = await writerKey(dirsApi);
      const dotDot = await client.post<Problem>('/v1/credentials', {
        kind: 'vault.jwt_login',
        vaultAddr: capture.url,
        role: 'x',
        jwtFile: `${allowed}/../outside/secret`,
      });
      expect(dotDot.status).toBe(422);
      expect(dotDot.body.errors?.map((e) => e.field)).toEqual(['jwtFile']);

      const vault = await client.post<CredentialView>('/v1/credentials', {
        kind: 'vault.jwt_login',
        vaultAddr: capture.url,
        role: 'backend',
        jwtFile: join(allowed, 'jwt'),
      });
      expect(vault.status, JSON.stringify(vault.body)).toBe(201);
      const exchange = await client.post<CredentialView>('/v1/credentials', {
        kind: 'oauth2.token_exchange',
        tokenEndpoint: `${capture.url}/token`,
        clientId: 'tk-exchange',
        clientSecret: 'tk-exchange-secret',
        subjectTokenFile: join(allowed, 'jwt'),
      });
      expect(exchange.status, JSON.stringify(exchange.body)).toBe(201);
      for (const id of [vault.body.id, exchange.body.id]) {
        await waitFor(
          async () => {
            const view = (await client.get<CredentialView>(`/v1/credentials/${id}`)).body;
            if (view.state !== 'active') throw new Error(JSON.stringify(view));
            return true;
          },
          { timeoutMs: 20_000, message: `${id} active` },
        );
      }
      const login = capture.requests.find((r) => r.url === '/v1/auth/jwt/login');
      expect(JSON.parse(login?.body ?? '{}')).toEqual({ role: 'backend', jwt: INSIDE_TOKEN });
      const token = capture.requests.find((r) => r.url === '/token');
      expect(new URLSearchParams(token?.body).get('subject_token')).toBe(INSIDE_TOKEN);
    } finally {
      await capture.stop();
    }
  });

  it('refuses a link inside the directory that leads out, at the worker, the same way whether its target exists', async () => {
    const capture = await startCapture();
    try {
      const client = await writerKey(dirsApi);
      const outcomes: { failure: CredentialView['lastFailure']; events: EventBody[] }[] = [];
      for (const link of ['link-out', 'link-out-dangling']) {
        const created = await client.post<CredentialView>('/v1/credentials', {
          kind: 'vault.jwt_login',
          vaultAddr: capture.url,
          role: 'x',
          jwtFile: join(allowed, link),
        });
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        const view = await waitFor(
          async () => {
            const v = (await client.get<CredentialView>(`/v1/credentials/${created.body.id}`)).body;
            return v.lastFailure ? v : undefined;
          },
          { timeoutMs: 20_000, message: `${link} refused` },
        );
        expect(view.lastFailure).toMatchObject({ code: 'FILE_SOURCE_REFUSED', class: 'permanent' });
        const events = await client.get<Page<EventBody>>(`/v1/credentials/${created.body.id}/events`);
        outcomes.push({ failure: view.lastFailure, events: events.body.items });
      }
      const [existing, dangling] = outcomes;
      expect(existing?.failure?.message).toBe(dangling?.failure?.message);
      for (const { events } of outcomes) {
        const failed = events.filter((e) => e.type === 'refresh.failed');
        expect(failed.length).toBeGreaterThan(0);
        const text = JSON.stringify(events);
        expect(text).not.toContain(OUTSIDE_CONTENT);
        expect(text).not.toContain(outside);
        expect(text).not.toContain('ENOENT');
      }
      expect(capture.requests).toEqual([]);
    } finally {
      await capture.stop();
    }
  });

  it('refuses, at refresh, a file accepted before the worker stopped allowing its directory', async () => {
    const capture = await startCapture();
    try {
      // Registered through an api that allows the directory; refreshed by a worker that does not.
      const client = await writerKey(laterApi);
      const created = await client.post<CredentialView>('/v1/credentials', {
        kind: 'vault.jwt_login',
        vaultAddr: capture.url,
        role: 'x',
        jwtFile: join(allowed, 'jwt'),
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const view = await waitFor(
        async () => {
          const v = (await client.get<CredentialView>(`/v1/credentials/${created.body.id}`)).body;
          return v.lastFailure ? v : undefined;
        },
        { timeoutMs: 20_000, message: 'refused by the worker' },
      );
      expect(view.lastFailure).toMatchObject({ code: 'FILE_SOURCE_REFUSED', class: 'permanent' });
      expect(view.lastFailure?.message).toContain('file token sources are disabled on this server');
      expect(capture.requests).toEqual([]);
    } finally {
      await capture.stop();
    }
  });

  it('does not boot with /proc, /sys, /dev or a relative directory in TK_FILE_SOURCE_DIRS', async () => {
    for (const [app, dirList] of [
      ['worker', '/proc/self'],
      ['api', `${allowed},/dev/shm`],
      ['worker', 'relative/tokens'],
    ] as const) {
      const { code, output } = await runToExit(app, {
        REDIS_URL: plain.redis.url,
        TK_FILE_SOURCE_DIRS: dirList,
      });
      expect(code, output).toBe(1);
      expect(output).toMatch(/invalid configuration: TK_FILE_SOURCE_DIRS entry .{1,80} must (be|not)/);
    }
  });
});
