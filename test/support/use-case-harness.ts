/**
 * The credential use cases (register/PATCH, refresh) wired to a real Redis with a grant client that
 * records what would have been sent: for integration tests of what the use cases store and refuse.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { KeyRing } from '#common';
import { type CredentialProjection, DEFAULT_BACKOFF, DEFAULT_REFRESH_POLICY } from '#core';
import type { GrantClient, GrantRequest, GrantResult } from '#grants';
import { queuePrefix, type RefreshJobData } from '#queues';
import {
  CredentialCipher,
  CredentialService,
  ReEncryption,
  RefreshScheduler,
  RefreshService,
  type RegisterCredentialInput,
  type StoredSecrets,
} from '#refresh';
import { CredentialStore, KeySpace, LeaseManager } from '#store';
import { TEST_ENCRYPTION_KEYS } from './processes.js';
import { startRedis, uniquePrefix } from './redis-server.js';

/** Records every grant (what would have been sent); rotates refresh tokens when asked to. */
export class RecordingGrants implements GrantClient {
  readonly requests: GrantRequest[] = [];
  constructor(private readonly rotates: boolean) {}
  async execute(request: GrantRequest): Promise<GrantResult> {
    this.requests.push(request);
    const n = this.requests.length;
    return {
      accessToken: `at-${n}`,
      tokenType: 'Bearer',
      expiresInSeconds: 3600,
      sentAt: Date.now(),
      receivedAt: Date.now(),
      ...(this.rotates && request.kind === 'oauth2.refresh_token' ? { refreshToken: `rt-${n}` } : {}),
    };
  }
}

export async function startUseCaseHarness(name: string, opts: { rotates: boolean }) {
  const redis = await startRedis();
  const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
  const prefix = uniquePrefix(name);
  const keys = new KeySpace(prefix, 1);
  const store = new CredentialStore(conn, keys, { historyMaxLen: 1000, feedMaxLen: 10_000 });
  const queue = new Queue<RefreshJobData>('token-refresh', { connection: conn, prefix: queuePrefix(prefix) });
  const cipher = new CredentialCipher(KeyRing.parse(TEST_ENCRYPTION_KEYS));
  const scheduler = new RefreshScheduler(queue);
  const grants = new RecordingGrants(opts.rotates);
  const credentials = new CredentialService(store, cipher, scheduler, {
    policy: DEFAULT_REFRESH_POLICY,
    grantTimeoutMs: 2000,
  });
  const refresh = new RefreshService(store, new LeaseManager(conn, keys), cipher, grants, scheduler, {
    policy: DEFAULT_REFRESH_POLICY,
    backoff: DEFAULT_BACKOFF,
    grantTimeoutMs: 2000,
    leaseTtlMs: 5000,
  });
  const ciphertext = async (id: string) => (await conn.hget(keys.credential(id), 's')) ?? undefined;
  const storedSecrets = async (id: string): Promise<StoredSecrets> =>
    cipher.decryptSecrets(id, await ciphertext(id));
  const storeSecrets = async (id: string, secrets: StoredSecrets) =>
    conn.hset(keys.credential(id), 's', await cipher.encryptSecrets(id, secrets));
  const register = (input: Omit<RegisterCredentialInput, 'namespace'>) =>
    credentials.register({ namespace: 'default', ...input });
  return {
    conn,
    keys,
    store,
    cipher,
    credentials,
    refresh,
    grants,
    /** Runs a demanded refresh of the credential as a worker would. */
    async run(id: string) {
      const p = (await store.getProjection(id))!;
      return refresh.run({
        credentialId: id,
        tokenVersion: p.token?.tokenVersion ?? 0,
        attempt: p.failures,
        trigger: 'manual',
        dueAt: Date.now(),
        demand: true,
      });
    },
    /** The credential's stored ciphertext (undefined when there is none). */
    ciphertext,
    storedSecrets,
    /** Replaces the credential's ciphertext, as a writer holding the key would. */
    storeSecrets,
    /** Stores the secrets as a release before destination binding did (no binding); returns them. */
    async unbind(id: string): Promise<StoredSecrets> {
      const { destination: _d, ...legacy } = await storedSecrets(id);
      await storeSecrets(id, legacy);
      return legacy;
    },
    /** Re-encrypts every credential to a new key `test2` (the old keys still read); its ring. */
    async reEncryptToNewKey(): Promise<KeyRing> {
      const ring = KeyRing.parse(
        `test2:${Buffer.alloc(32, 9).toString('base64url')},${TEST_ENCRYPTION_KEYS}`,
      );
      await new ReEncryption(store, ring).run();
      return ring;
    },
    /** Registers in namespace `default`. */
    register,
    /** A static credential: a token source. */
    registerStatic: () => register({ kind: 'static', accessToken: 'source-token', expiresIn: 3600 }),
    /** A refresh-token credential holding refresh token `rt-0` and client secret `cs`. */
    registerRefreshToken: () =>
      register({
        kind: 'oauth2.refresh_token',
        tokenEndpoint: 'https://as.example/token',
        clientId: 'app',
        refreshToken: 'rt-0',
        clientSecret: 'cs',
      }),
    /** A token exchange of the token of `subjectCredentialId` (registered with token:read). */
    registerTokenExchange: (subjectCredentialId: string) =>
      register({
        kind: 'oauth2.token_exchange',
        tokenEndpoint: 'https://as.example/token',
        subjectCredentialId,
        canReadTokens: true,
      }),
    /** A Vault login with the token of `jwtCredentialId` (registered with token:read). */
    registerVaultLogin: (jwtCredentialId: string) =>
      register({
        kind: 'vault.jwt_login',
        vaultAddr: 'https://vault.example',
        role: 'r',
        jwtCredentialId,
        canReadTokens: true,
      }),
    /** What a Redis writer does: edit the projection JSON in place. */
    async tamper(id: string, edit: (p: CredentialProjection) => void) {
      const key = keys.credential(id);
      const p = JSON.parse((await conn.hget(key, 'p'))!) as CredentialProjection;
      edit(p);
      await conn.hset(key, 'p', JSON.stringify(p));
    },
    async close() {
      await queue.close();
      conn.disconnect();
      await redis.destroy();
    },
  };
}

export type UseCaseHarness = Awaited<ReturnType<typeof startUseCaseHarness>>;

/**
 * Starts a harness before the suite's tests and closes it after them. The returned object is
 * filled in by then: use it inside tests and hooks, not at collection time.
 */
export function useUseCaseHarness(name: string, opts: { rotates: boolean }): UseCaseHarness {
  const h = {} as UseCaseHarness;
  beforeAll(async () => {
    Object.assign(h, await startUseCaseHarness(name, opts));
  });
  afterAll(() => h.close?.());
  return h;
}

/** The error a promise rejects with, or undefined. */
export const errorOf = async (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );
