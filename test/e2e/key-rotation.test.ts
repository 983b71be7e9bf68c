import { Redis } from 'ioredis';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  CreatedSubscription,
  CredentialView,
  EncryptionStatus,
  EventBody,
  Page,
} from '../support/api-types.js';
import { type OAuthServer, startOAuthServer } from '../support/oauth-server.js';
import { apiClient } from '../support/processes.js';
import { type Stack, startStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

const KEY_A = `A:${Buffer.alloc(32, 1).toString('base64url')}`;
const KEY_B = `B:${Buffer.alloc(32, 2).toString('base64url')}`;
const TOTAL = 1_000;
/** Credentials that really refresh against the provider (4 s tokens) during the rotation. */
const LIVE = 20;

/** Ciphertexts per key id, read from the JWE headers of every credential hash in Redis. */
async function ciphertextsByKid(url: string, prefix: string): Promise<Record<string, number>> {
  const r = new Redis(url);
  const counts: Record<string, number> = {};
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:{p*}:c:*`, 'COUNT', 1000);
      cursor = next;
      const pipeline = r.pipeline();
      for (const key of keys) pipeline.hmget(key, 's', 't');
      for (const [, values] of (await pipeline.exec()) ?? []) {
        for (const jwe of values as (string | null)[]) {
          if (!jwe) continue;
          const kid = String(decodeProtectedHeader(jwe).kid);
          counts[kid] = (counts[kid] ?? 0) + 1;
        }
      }
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
  return counts;
}

/**
 * Issue 3, acceptance 3: 1,000 credentials encrypted under key A; B becomes primary; the worker's
 * re-encryption leaves 0 ciphertexts under A (read from the JWE headers in Redis) while the live
 * credentials keep refreshing; removing A before that refuses to start, after it starts fine.
 * 980 credentials are registered with a supplied access token (1-day expiry) to keep the test
 * cheap; 20 are client-credentials credentials with 4 s tokens refreshing throughout.
 */
describe('key ring rotation', () => {
  let stack: Stack;
  let oauth: OAuthServer;

  beforeAll(async () => {
    oauth = await startOAuthServer({ accessTokenTtl: 4 });
    // The first fleet: key A only.
    stack = await startStack({ name: 'rot', env: { TK_ENCRYPTION_KEYS: KEY_A } });
  });

  afterAll(async () => {
    await stack?.stop();
    await oauth?.stop();
  });

  it('re-encrypts every credential to the new primary while credentials keep refreshing', async () => {
    const { api: apiA, worker: workerA, redis, prefix } = stack;
    const client = stack.admin;
    const cc = oauth.clients.clientCredentials;
    const ids: string[] = [];
    const started = Date.now();
    for (let batch = 0; batch < TOTAL; batch += 25) {
      const created = await Promise.all(
        Array.from({ length: Math.min(25, TOTAL - batch) }, (_, j) => {
          const i = batch + j;
          return client.post<CredentialView>('/v1/credentials', {
            kind: 'oauth2.client_credentials',
            name: `rot-${i}`,
            tokenEndpoint: oauth.tokenEndpoint,
            clientId: cc.clientId,
            clientSecret: cc.clientSecret,
            policy: { minBufferSeconds: 1 },
            ...(i < LIVE ? {} : { accessToken: `supplied-${i}-${'z'.repeat(20)}`, expiresIn: 86_400 }),
          });
        }),
      );
      for (const c of created) {
        expect(c.status, JSON.stringify(c.body)).toBe(201);
        ids.push(c.body.id);
      }
    }
    console.info(`registered ${TOTAL} credentials in ${Date.now() - started} ms`);
    const live = ids.slice(0, LIVE);
    await waitFor(
      async () =>
        (await Promise.all(live.map((id) => client.get<CredentialView>(`/v1/credentials/${id}`)))).every(
          (r) => r.body.tokenVersion >= 1,
        ),
      {
        timeoutMs: 20_000,
        message: 'live credentials have their first token',
      },
    );
    const before = await ciphertextsByKid(redis.url, prefix);
    expect(before).toEqual({ A: 2 * TOTAL });

    // Removing A while ciphertexts still need it refuses to start, naming the key.
    const refused = await stack.start('worker', { TK_ENCRYPTION_KEYS: KEY_B }, 'worker-B-only').then(
      () => '',
      (err: Error) => err.message,
    );
    expect(refused).toMatch(/encryption key \\?"A\\?" \(2000 ciphertexts\) is still needed/);

    // Deploy B as primary, A still readable.
    // A webhook signing secret is encrypted with the ring too, and must move to B as well.
    const subscription = await client.post<CreatedSubscription>('/v1/subscriptions', {
      url: 'http://127.0.0.1:9/hook',
    });
    expect(subscription.status).toBe(201);
    const versionsBefore = await Promise.all(
      live.map(async (id) => (await client.get<CredentialView>(`/v1/credentials/${id}`)).body.tokenVersion),
    );
    await Promise.all([apiA.stop(), workerA.stop()]);
    const rotated = { TK_ENCRYPTION_KEYS: `${KEY_B},${KEY_A}`, TK_ENCRYPTION_PRIMARY: 'B' };
    const [apiB] = await Promise.all([
      stack.start('api', rotated, 'api-B'),
      stack.start('worker', rotated, 'worker-B'),
    ]);
    const admin = apiClient(apiB.url!);
    const rotationStarted = Date.now();
    const versionsAtStart = await Promise.all(
      live.map(async (id) => (await admin.get<CredentialView>(`/v1/credentials/${id}`)).body.tokenVersion),
    );

    const status = await waitFor(
      async () => {
        const res = await admin.get<EncryptionStatus>('/v1/admin/encryption');
        return res.body.primaryKeyId === 'B' &&
          res.body.reEncryption?.primaryKeyId === 'B' &&
          res.body.reEncryption.state === 'done'
          ? res.body
          : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, message: 're-encryption done' },
    );
    console.info(
      `re-encryption finished ${Date.now() - rotationStarted} ms after the rotated fleet was ready: ${JSON.stringify(status.reEncryption)}`,
    );
    expect(status.reEncryption!.failed).toBe(0);
    const after = await ciphertextsByKid(redis.url, prefix);
    expect(after.A ?? 0).toBe(0);
    expect(after.B).toBe(2 * TOTAL);
    const r = new Redis(redis.url);
    const signingSecret = await r.hget(`${prefix}:{g}:wh:sub:${subscription.body.id}`, 's');
    r.disconnect();
    expect(decodeProtectedHeader(signingSecret!).kid).toBe('B');

    // The live credentials kept refreshing across the rotation and still serve tokens.
    await waitFor(
      async () =>
        (await Promise.all(live.map((id) => admin.get<CredentialView>(`/v1/credentials/${id}`)))).every(
          (r, i) => r.body.tokenVersion > versionsAtStart[i]!,
        ),
      { timeoutMs: 20_000, intervalMs: 250, message: 'every live credential refreshed after the rotation' },
    );
    for (const [i, id] of live.entries()) {
      const view = (await admin.get<CredentialView>(`/v1/credentials/${id}`)).body;
      if (view.state !== 'active') {
        const history = (await admin.get<Page<EventBody>>(`/v1/credentials/${id}/events?limit=1000`)).body
          .items;
        console.info(`${id} is ${view.state}: ${JSON.stringify(history.slice(-4))}`);
      }
      expect(view.state).toBe('active');
      expect(view.tokenVersion, `${id} refreshed during rotation`).toBeGreaterThan(versionsAtStart[i]!);
      expect(view.tokenVersion).toBeGreaterThan(versionsBefore[i]!);
      const events = (await admin.get<Page<EventBody>>(`/v1/credentials/${id}/events?limit=1000`)).body.items;
      expect(events.filter((e) => e.type === 'refresh.failed')).toEqual([]);
      expect((await admin.get(`/v1/credentials/${id}/token?minTtl=0`)).status).toBe(200);
    }
    for (const id of ids.slice(LIVE, LIVE + 20))
      expect((await admin.get(`/v1/credentials/${id}/token`)).status).toBe(200);

    // Now A can go: a process with B alone starts and serves.
    const apiBOnly = await stack.start('api', { TK_ENCRYPTION_KEYS: KEY_B }, 'api-B-only');
    expect((await apiClient(apiBOnly.url!).get(`/v1/credentials/${ids[LIVE + 1]}/token`)).status).toBe(200);
  });
});
