import { randomBytes } from 'node:crypto';
import type { CredentialProjection } from '#core';
import type { StoredCredential } from './credential-store.js';
import type { KeySpace } from './keys.js';
import { defineScripts, runScript } from './lua-scripts.js';
import type { RedisClient } from './redis-client.js';

export interface Lease {
  credentialId: string;
  owner: string;
}

/**
 * One refresh per credential across the fleet: `SET NX PX` with a random owner token. Only the
 * owner can release or extend it. The lease alone is not the safety net: a refresh that outlives
 * its lease is still fenced by the revision check when it persists.
 */
export class LeaseManager {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: KeySpace,
  ) {
    defineScripts(redis);
  }

  async acquire(credentialId: string, ttlMs: number): Promise<Lease | undefined> {
    const owner = randomBytes(12).toString('base64url');
    const ok = await this.redis.set(this.keys.lease(credentialId), owner, 'PX', ttlMs, 'NX');
    return ok === 'OK' ? { credentialId, owner } : undefined;
  }

  /**
   * Takes the lease (as `acquire`) and reads the credential, in one round trip. Without a lease
   * it still returns the projection, so the caller can tell a stale job from a busy credential,
   * and how long the holder's lease has left. A credential that does not exist is not leased.
   */
  async acquireAndRead(
    credentialId: string,
    ttlMs: number,
  ): Promise<
    | { status: 'missing' }
    | { status: 'leased'; lease: Lease; stored: StoredCredential }
    | { status: 'busy'; projection: CredentialProjection; remainingMs: number }
  > {
    const owner = randomBytes(12).toString('base64url');
    const [status, p, a, b] = await runScript<[number, string?, (string | null)?, (string | number | null)?]>(
      this.redis,
      'acquire-lease-read-2',
      [this.keys.lease(credentialId), this.keys.credential(credentialId)],
      [owner, ttlMs],
    );
    if (status === 0 || !p) return { status: 'missing' };
    const projection = JSON.parse(p) as CredentialProjection;
    if (status === 2) return { status: 'busy', projection, remainingMs: Math.max(0, Number(a ?? b ?? 0)) };
    return {
      status: 'leased',
      lease: { credentialId, owner },
      stored: {
        projection,
        ...(a ? { secrets: a } : {}),
        ...(typeof b === 'string' && b ? { token: b } : {}),
      },
    };
  }

  async release(lease: Lease): Promise<boolean> {
    return (
      (await runScript<number>(
        this.redis,
        'release-lease-1',
        [this.keys.lease(lease.credentialId)],
        [lease.owner],
      )) === 1
    );
  }

  async extend(lease: Lease, ttlMs: number): Promise<boolean> {
    return (
      (await runScript<number>(
        this.redis,
        'extend-lease-1',
        [this.keys.lease(lease.credentialId)],
        [lease.owner, ttlMs],
      )) === 1
    );
  }

  /** Milliseconds until the current lease lapses; 0 when there is none. */
  async remainingMs(credentialId: string): Promise<number> {
    return Math.max(0, await this.redis.pttl(this.keys.lease(credentialId)));
  }
}
