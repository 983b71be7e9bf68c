/**
 * The credential use cases (register/PATCH, refresh) wired to a real Redis with a grant client that
 * records what would have been sent: for integration tests of what the use cases store and refuse.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { KeyRing } from '#common';
import { type CredentialProjection, DEFAULT_BACKOFF, DEFAULT_REFRESH_POLICY } from '#core';
import type { GrantClient, GrantRequest, GrantResult } from '#grants';
import {
  CredentialCipher,
  CredentialService,
  queuePrefix,
  type RefreshJobData,
  RefreshScheduler,
  RefreshService,
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
    async storedSecrets(id: string): Promise<StoredSecrets> {
      return cipher.decryptSecrets(id, (await conn.hget(keys.credential(id), 's')) ?? undefined);
    },
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

/** The error a promise rejects with, or undefined. */
export const errorOf = async (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );
