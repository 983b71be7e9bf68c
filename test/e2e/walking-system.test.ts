import { describe, expect, it } from 'vitest';
import type { CredentialView, EventBody, Page, TokenBody } from '../support/api-types.js';
import { basicRefreshTokenCredential } from '../support/oauth-server.js';
import { dumpRedis, leakedSecrets } from '../support/redis-dump.js';
import { useStack } from '../support/stack.js';
import { sleep } from '../support/wait.js';

const RUN_MS = 60_000;

/**
 * Issue 2, acceptance 1, 2 and 6: credentials registered through the HTTP API stay fresh on two
 * worker processes against a real authorization server with rotating refresh tokens and 10 s
 * access tokens, and no secret shows up in Redis, job data or the logs.
 */
describe('walking system: two workers keep OAuth credentials fresh', () => {
  const stack = useStack({
    name: 'walk',
    oauth: { accessTokenTtl: 10, rotateRefreshToken: true },
    env: { TK_SWEEP_INTERVAL_MS: '5000' },
    workers: 2,
    redis: { appendonly: true },
  });
  const secrets = new Set<string>();

  it('refreshes before every expiry, serves only active tokens, and never presents a refresh token twice', async () => {
    const client = stack.admin;
    const issued = await stack.oauth.issueRefreshToken('basic');
    const { clientSecret } = stack.oauth.clients.basic;
    const cc = stack.oauth.clients.clientCredentials;
    for (const s of [issued.refreshToken, issued.accessToken, clientSecret, cc.clientSecret]) secrets.add(s);
    stack.oauth.resetCounters();

    const rt = await client.post<CredentialView>(
      '/v1/credentials',
      basicRefreshTokenCredential(stack.oauth, 'rotating', issued.refreshToken),
    );
    expect(rt.status).toBe(201);
    const ccReg = await client.post<CredentialView>('/v1/credentials', {
      kind: 'oauth2.client_credentials',
      name: 'service',
      issuer: stack.oauth.issuer,
      clientId: cc.clientId,
      clientSecret: cc.clientSecret,
      scope: 'api',
      policy: { minBufferSeconds: 1 },
    });
    expect(ccReg.status).toBe(201);
    const ids = [rt.body.id, ccReg.body.id];

    // Readers: every 500 ms, each token must be active at the provider.
    const inactive: string[] = [];
    let reads = 0;
    const end = Date.now() + RUN_MS;
    while (Date.now() < end) {
      for (const id of ids) {
        const res = await client.get<TokenBody>(`/v1/credentials/${id}/token?minTtl=1`);
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        secrets.add(res.body.accessToken);
        const info = await stack.oauth.introspect(res.body.accessToken);
        reads += 1;
        if (!info.active) inactive.push(`${id} v${res.body.tokenVersion}`);
      }
      await sleep(500); // the readers' pace over the run: sampling, not waiting for something
    }

    expect(inactive).toEqual([]);
    expect(reads).toBeGreaterThan(100);
    expect(stack.oauth.counters.invalidGrant).toBe(0);
    expect(stack.oauth.counters.refreshTokenReuse).toBe(0);

    for (const id of ids) {
      const { body } = await client.get<Page<EventBody>>(`/v1/credentials/${id}/events?limit=1000`);
      const events = body.items;
      expect(events.map((e) => e.revision)).toEqual(events.map((_, i) => i + 1));
      const updates = events.filter((e) => e.type === 'token.updated');
      expect(updates.length).toBeGreaterThanOrEqual(5);
      expect(updates.map((e) => e.data.tokenVersion)).toEqual(updates.map((_, i) => i + 1));
      let worstMarginMs = Number.POSITIVE_INFINITY;
      for (let i = 1; i < updates.length; i++) {
        const margin = Date.parse(String(updates[i - 1]!.data.expiresAt)) - Date.parse(updates[i]!.at);
        worstMarginMs = Math.min(worstMarginMs, margin);
        expect(margin, `refresh ${i + 1} of ${id} came after the previous token expired`).toBeGreaterThan(0);
      }
      expect(events.some((e) => e.type === 'refresh.failed')).toBe(false);
      console.info(
        `${id}: ${updates.length} refreshes in ${RUN_MS / 1000} s, worst margin before expiry ${worstMarginMs} ms`,
      );
    }
  });

  it('keeps every secret out of Redis, job data and the logs', async () => {
    expect(secrets.size).toBeGreaterThan(10);
    const stored = await dumpRedis(stack.redis.url);
    expect(stored).toContain('token-refresh'); // the queue's keys (job data included) were scanned
    expect(leakedSecrets(stored, secrets)).toEqual([]);
    const logs = stack.logs();
    expect(logs).toContain('token refreshed');
    expect(leakedSecrets(logs, secrets)).toEqual([]);
  });
});
