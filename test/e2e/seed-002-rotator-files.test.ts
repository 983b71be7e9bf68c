import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { API_KEY_REFERENCE, agentDir, createAgentKey, writeAgentConfig } from '../support/agent.js';
import type { CreatedSubscription, CredentialView, PoolTokenBody, PoolView } from '../support/api-types.js';
import { basicRefreshTokenCredential } from '../support/oauth-server.js';
import { useStack } from '../support/stack.js';
import { sleep, waitFor } from '../support/wait.js';

const RUN_MS = 22_000;
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

/**
 * Seed 002 (rotator_library): a Google-style `authorized_user` file is updated in place with each
 * new access token and expiry while its other fields (client, refresh token, quota project…)
 * stay as they were — in both spellings in use: rotator_library's `access_token`/`expires_at`/
 * `expires_in` and google-auth's `token`/`expiry`.
 * Then the rest of what the rotator's owners asked for: a pool falls back to the second credential
 * when the first needs re-authentication, and a webhook reports that failure as `permanent`.
 */
describe('seed 002: authorized_user credential files updated in place by the agent', () => {
  const stack = useStack({
    name: 'seed002',
    oauth: { accessTokenTtl: 10, rotateRefreshToken: true },
    env: { TK_SWEEP_INTERVAL_MS: '5000' },
  });

  it('writes each new access token and expiry into the existing files and keeps every other field', async () => {
    const client = stack.admin;
    const issued = await stack.oauth.issueRefreshToken('basic');
    const { clientId } = stack.oauth.clients.basic;
    const reg = await client.post<CredentialView>(
      '/v1/credentials',
      basicRefreshTokenCredential(stack.oauth, 'gemini', issued.refreshToken),
    );
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);

    const dir = agentDir('seed002');
    const rotatorFile = join(dir, 'credentials', 'gemini.json');
    const googleFile = join(dir, 'application_default_credentials.json');
    const rotatorOriginal = {
      type: 'authorized_user',
      client_id: clientId,
      client_secret: 'kept-client-secret',
      refresh_token: '1//kept-refresh-token',
      access_token: 'ya29.old',
      expires_at: 1645123456.1234,
      expires_in: 3600,
      quota_project_id: 'cortana-prod',
    };
    const googleOriginal = {
      token: 'ya29.old',
      refresh_token: '1//kept-refresh-token',
      token_uri: 'https://oauth2.googleapis.com/token',
      client_id: clientId,
      client_secret: 'kept-client-secret',
      scopes: ['https://www.googleapis.com/auth/cloud-platform'],
      universe_domain: 'googleapis.com',
      account: '',
      expiry: '2022-02-17T18:44:16.123456Z',
    };
    mkdirSync(join(dir, 'credentials'), { mode: 0o700 });
    writeFileSync(rotatorFile, JSON.stringify(rotatorOriginal, null, 2), { mode: 0o644 });
    writeFileSync(googleFile, JSON.stringify(googleOriginal, null, 2), { mode: 0o600 });

    const config = writeAgentConfig(dir, {
      api: { url: stack.url, apiKey: API_KEY_REFERENCE, pollIntervalSeconds: 5 },
      credentials: [
        {
          id: reg.body.id,
          minTtl: 2,
          sinks: [
            { type: 'file', format: 'google-authorized-user', path: rotatorFile },
            { type: 'file', format: 'google-authorized-user', path: googleFile },
          ],
        },
      ],
    });
    const agent = await stack.startAgent(config, await createAgentKey(stack.url));
    await waitFor(
      () => readJson(rotatorFile).access_token !== 'ya29.old' && readJson(googleFile).token !== 'ya29.old',
      {
        timeoutMs: 20_000,
        message: 'first token written',
      },
    );

    const seen = new Set<string>();
    const problems: string[] = [];
    const end = Date.now() + RUN_MS;
    while (Date.now() < end) {
      const rotator = readJson(rotatorFile);
      const google = readJson(googleFile);
      const now = Date.now();
      const token = String(rotator.access_token);
      seen.add(token);
      // Other fields untouched, in their original order; only the token fields move.
      expect(Object.keys(rotator)).toEqual(Object.keys(rotatorOriginal));
      expect(Object.keys(google)).toEqual(Object.keys(googleOriginal));
      const { access_token: _a, expires_at: _e, expires_in: _i, ...rotatorRest } = rotator;
      const { access_token: _oa, expires_at: _oe, expires_in: _oi, ...rotatorKept } = rotatorOriginal;
      expect(rotatorRest).toEqual(rotatorKept);
      const { token: _t, expiry: _x, ...googleRest } = google;
      const { token: _ot, expiry: _ox, ...googleKept } = googleOriginal;
      expect(googleRest).toEqual(googleKept);
      // The token fields are current.
      const expiresAt = Number(rotator.expires_at) * 1000;
      if (expiresAt <= now) problems.push(`rotator file expired at ${new Date(now).toISOString()}`);
      if (Date.parse(String(google.expiry)) <= now)
        problems.push(`google file expired at ${new Date(now).toISOString()}`);
      expect(Number(rotator.expires_in)).toBeLessThanOrEqual(10);
      if (!(await stack.oauth.introspect(token)).active)
        problems.push(`inactive token at ${new Date(now).toISOString()}`);
      if (!(await stack.oauth.introspect(String(google.token))).active)
        problems.push(`inactive google token at ${new Date(now).toISOString()}`);
      await sleep(1000); // the readers' pace over the run: sampling, not waiting for something
    }
    expect(problems).toEqual([]);
    expect(seen.size).toBeGreaterThanOrEqual(3);
    // The agent writes with its own mode (0600), whatever the file had.
    expect(statSync(rotatorFile).mode & 0o777).toBe(0o600);
    expect(statSync(googleFile).mode & 0o777).toBe(0o600);
    expect(stack.oauth.counters.refreshTokenReuse).toBe(0);
    expect(await agent.stop()).toBe(0);
  });

  it('falls back to the second pool member when the first needs re-authentication, and a webhook says so as permanent', async () => {
    const client = stack.admin;
    const received: { body: string; headers: IncomingHttpHeaders }[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        received.push({ body, headers: req.headers });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/tokenkeeper`;
      const sub = await client.post<CreatedSubscription>('/v1/subscriptions', {
        url,
        eventTypes: ['refresh.failed', 'credential.reauth_required'],
        labelSelector: { upstream: 'gemini' },
      });
      expect(sub.status, JSON.stringify(sub.body)).toBe(201);

      const { clientId, clientSecret } = stack.oauth.clients.basic;
      const members: string[] = [];
      for (const name of ['gemini-primary', 'gemini-fallback']) {
        const issued = await stack.oauth.issueRefreshToken('basic');
        const reg = await client.post<CredentialView>('/v1/credentials', {
          kind: 'oauth2.refresh_token',
          name,
          labels: { upstream: 'gemini' },
          issuer: stack.oauth.issuer,
          clientId,
          clientSecret,
          refreshToken: issued.refreshToken,
          accessToken: issued.accessToken,
          expiresIn: issued.expiresIn,
          policy: { minBufferSeconds: 1 },
        });
        expect(reg.status).toBe(201);
        members.push(reg.body.id);
      }
      const [primary, fallback] = members as [string, string];
      const pool = await client.post<PoolView>('/v1/pools', { name: 'gemini', members });
      expect(pool.status).toBe(201);

      // The primary's grant is gone (the user revoked it): its next refresh is refused for good.
      expect(
        (await client.patch(`/v1/credentials/${primary}`, { refreshToken: 'revoked-by-the-user' })).status,
      ).toBe(200);
      expect((await client.post(`/v1/credentials/${primary}/refresh`)).status).toBe(202);
      await waitFor(
        async () =>
          (await client.get<CredentialView>(`/v1/credentials/${primary}`)).body.state === 'reauth_required',
        {
          timeoutMs: 15_000,
          message: 'primary needs re-authentication',
        },
      );

      for (let i = 0; i < 4; i++) {
        const res = await client.get<PoolTokenBody>(`/v1/pools/${pool.body.id}/token?minTtl=1`);
        expect(res.status).toBe(200);
        expect(res.body.credentialId).toBe(fallback);
        expect((await stack.oauth.introspect(res.body.accessToken)).active).toBe(true);
      }

      const failure = await waitFor(
        () =>
          received.find((r) => {
            const event = JSON.parse(r.body) as {
              type: string;
              data: { credentialId: string; data: { class?: string } };
            };
            return event.type === 'refresh.failed' && event.data.credentialId === primary;
          }),
        { timeoutMs: 15_000, message: 'failure webhook' },
      );
      const verified = new Webhook(sub.body.secret).verify(
        failure.body,
        failure.headers as Record<string, string>,
      ) as {
        data: { data: { class: string; code: string } };
      };
      expect(verified.data.data).toMatchObject({ class: 'permanent', code: 'INVALID_GRANT' });
      await waitFor(() => received.some((r) => JSON.parse(r.body).type === 'credential.reauth_required'), {
        timeoutMs: 10_000,
        message: 'reauth webhook',
      });
      expect(
        received.every((r) => !r.body.includes('revoked-by-the-user') && !r.body.includes(clientSecret)),
      ).toBe(true);
    } finally {
      await new Promise((resolve) => receiver.close(resolve));
    }
  });
});
