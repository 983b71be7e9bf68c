import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyRing } from '#common';
import { DEFAULT_BACKOFF, DEFAULT_REFRESH_POLICY } from '#core';
import { GrantClientRegistry } from '#grants';
import { queuePrefix, type RefreshJobData } from '#queues';
import {
  CredentialCipher,
  CredentialService,
  InvalidCredentialInputError,
  RefreshScheduler,
  RefreshService,
  StoredCredentialTokenReader,
  TokenService,
} from '#refresh';
import { CredentialStore, KeySpace, LeaseManager } from '#store';
import { TEST_ENCRYPTION_KEYS } from '../support/processes.js';
import { type RedisServer, startRedis, uniquePrefix } from '../support/redis-server.js';

/**
 * jwt.mint, static and the credential token reader through the real use cases on a real Redis:
 * registration, a refresh run by RefreshService, the events it records, what GET /token serves.
 */
describe('jwt.mint, static and token sources on Redis', () => {
  let redis: RedisServer;
  let conn: Redis;
  let queue: Queue<RefreshJobData>;
  let store: CredentialStore;
  let cipher: CredentialCipher;
  let credentials: CredentialService;
  let refresh: RefreshService;
  let tokens: TokenService;
  let reader: StoredCredentialTokenReader;
  let clock = Date.now();
  const now = () => clock;

  beforeAll(async () => {
    redis = await startRedis();
    conn = new Redis(redis.url, { maxRetriesPerRequest: null });
    const prefix = uniquePrefix('kinds');
    store = new CredentialStore(conn, new KeySpace(prefix, 1), { historyMaxLen: 1000, feedMaxLen: 10_000 });
    queue = new Queue<RefreshJobData>('token-refresh', { connection: conn, prefix: queuePrefix(prefix) });
    cipher = new CredentialCipher(KeyRing.parse(TEST_ENCRYPTION_KEYS));
    const scheduler = new RefreshScheduler(queue, now);
    reader = new StoredCredentialTokenReader(store, cipher, now);
    const grants = GrantClientRegistry.standard({ tokens: reader, now });
    credentials = new CredentialService(store, cipher, scheduler, {
      policy: DEFAULT_REFRESH_POLICY,
      grantTimeoutMs: 2000,
      now,
    });
    refresh = new RefreshService(
      store,
      new LeaseManager(conn, new KeySpace(prefix, 1)),
      cipher,
      grants,
      scheduler,
      {
        policy: DEFAULT_REFRESH_POLICY,
        backoff: DEFAULT_BACKOFF,
        grantTimeoutMs: 2000,
        leaseTtlMs: 5000,
        now,
      },
    );
    tokens = new TokenService(store, cipher, scheduler, { waitMs: 500, now });
  });

  afterAll(async () => {
    await queue?.close();
    conn?.disconnect();
    await redis?.destroy();
  });

  const run = async (id: string, trigger: RefreshJobData['trigger'] = 'scheduled') => {
    const p = (await store.getProjection(id))!;
    return refresh.run({
      credentialId: id,
      tokenVersion: p.token?.tokenVersion ?? 0,
      attempt: p.failures,
      trigger,
      dueAt: clock,
      demand: false,
    });
  };

  it('jwt.mint signs a verifiable JWT on each refresh, expiring after its TTL', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const p = await credentials.register({
      namespace: 'default',
      kind: 'jwt.mint',
      privateKey: JSON.stringify(await exportJWK(privateKey)),
      ttlSeconds: 1200,
      issuer: 'neuron-hotkey',
      claims: { uid: 3, chain: 'bittensor' },
    });
    expect(p.grant.tokenEndpoint).toBeUndefined();
    const outcome = await run(p.id, 'registration');
    expect(outcome.type).toBe('refreshed');
    const served = await tokens.getToken('default', p.id, 60);
    const { payload } = await jwtVerify(
      served.accessToken,
      createLocalJWKSet({ keys: [await exportJWK(publicKey)] }),
      {
        issuer: 'neuron-hotkey',
        currentDate: new Date(clock),
      },
    );
    expect(payload).toMatchObject({ uid: 3, chain: 'bittensor' });
    expect(served.expiresAt - clock).toBeGreaterThan(1_199_000);
    // Another credential of the namespace can read it; another namespace cannot see it.
    expect(await reader.currentToken('default', p.id)).toBe(served.accessToken);
    await expect(reader.currentToken('other', p.id)).rejects.toMatchObject({
      failure: { class: 'permanent', code: 'TOKEN_SOURCE_NOT_FOUND' },
    });
    await expect(
      credentials.register({
        namespace: 'other',
        kind: 'oauth2.token_exchange',
        tokenEndpoint: 'https://idp.example/token',
        subjectCredentialId: p.id,
        canReadTokens: true,
      }),
    ).rejects.toMatchObject({ code: 'INVALID_CREDENTIAL_INPUT', field: 'subjectCredentialId' });
  });

  it('static: warns at refresh_at, expires at expiry, and a PATCH imports a new token', async () => {
    const p = await credentials.register({
      namespace: 'default',
      kind: 'static',
      accessToken: 'imported-token-1',
      expiresIn: 600,
    });
    expect(p.state).toBe('active');
    clock = p.token!.refreshAt;
    const warned = await run(p.id);
    expect(warned).toMatchObject({
      type: 'failed',
      failure: { class: 'transient', code: 'STATIC_TOKEN_EXPIRING' },
    });
    // Still served until it expires, with nothing retried before expiry.
    expect((await tokens.getToken('default', p.id, 1)).accessToken).toBe('imported-token-1');
    clock = p.token!.expiresAt;
    const expired = await run(p.id);
    expect(expired).toMatchObject({ failure: { class: 'permanent', code: 'STATIC_TOKEN_EXPIRED' } });
    const history = await credentials.history('default', p.id);
    expect(history.map((e) => e.type)).toEqual([
      'credential.registered',
      'token.updated',
      'refresh.failed',
      'refresh.failed',
      'credential.expired',
      'credential.reauth_required',
    ]);

    const renewed = await credentials.update('default', p.id, {
      accessToken: 'imported-token-2',
      expiresIn: 900,
    });
    expect(renewed).toMatchObject({ state: 'active', failures: 0, token: { tokenVersion: 2 } });
    expect((await tokens.getToken('default', p.id, 60)).accessToken).toBe('imported-token-2');

    await expect(
      credentials.register({ namespace: 'default', kind: 'static', accessToken: 'x' }),
    ).rejects.toThrow(InvalidCredentialInputError);
  });
});
