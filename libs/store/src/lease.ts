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
 * Write-ahead record of a refresh request about to be sent: which refresh-token generation it
 * presents, when and by which worker. Stored under the lease (fenced by its owner) before the
 * request leaves, cleared by the append that stores the outcome. Never holds a secret.
 */
export interface AttemptRecord {
  /** Short hash of the refresh token presented ('' when the grant presents none). */
  generation: string;
  /** The token version the refresh means to replace. */
  tokenVersion: number;
  /** Epoch ms when the request was (about to be) sent. */
  sentAt: number;
  /** `host:pid` of the worker that sent it. */
  worker: string;
  /** An earlier attempt of the same generation whose answer was lost, which this one re-presents. */
  lost?: { sentAt: number; worker: string };
  /** Re-presentations of that generation whose answers were lost too, oldest first (the newest 4). */
  relost?: { sentAt: number; worker: string }[];
}

/** Result of taking a credential's lease and reading it. */
export type LeaseRead =
  | { status: 'missing' }
  | { status: 'leased'; lease: Lease; stored: StoredCredential }
  | { status: 'busy'; projection: CredentialProjection; remainingMs: number };

/** `recorded`; `lease_lost`: the caller no longer holds the lease; `moved`: the credential changed. */
export type RecordAttemptResult = 'recorded' | 'lease_lost' | 'moved';

/** Keys held by an owner token: `SET NX PX` with a random owner; only the owner extends or deletes them. */
abstract class OwnedKeys {
  constructor(
    protected readonly redis: RedisClient,
    protected readonly keys: KeySpace,
  ) {
    defineScripts(redis);
  }

  /** Sets `key` to a new random owner token unless it exists; returns the token if it was set. */
  protected async take(key: string, ttlMs: number): Promise<string | undefined> {
    const owner = randomBytes(12).toString('base64url');
    return (await this.redis.set(key, owner, 'PX', ttlMs, 'NX')) === 'OK' ? owner : undefined;
  }

  protected async extendKey(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await runScript<number>(this.redis, 'extend-lease-1', [key], [owner, ttlMs])) === 1;
  }

  protected async releaseKey(key: string, owner: string): Promise<boolean> {
    return (await runScript<number>(this.redis, 'release-lease-1', [key], [owner])) === 1;
  }
}

/**
 * One refresh per credential across the fleet: `SET NX PX` with a random owner token. Only the
 * owner can release or extend it. The lease alone is not the safety net: a refresh that outlives
 * its lease is still fenced by the revision check when it persists.
 */
export class LeaseManager extends OwnedKeys {
  async acquire(credentialId: string, ttlMs: number): Promise<Lease | undefined> {
    const owner = await this.take(this.keys.lease(credentialId), ttlMs);
    return owner ? { credentialId, owner } : undefined;
  }

  /**
   * Takes the lease (as `acquire`) and reads the credential, in one round trip. Without a lease
   * it still returns the projection, so the caller can tell a stale job from a busy credential,
   * and how long the holder's lease has left. A credential that does not exist is not leased.
   */
  async acquireAndRead(credentialId: string, ttlMs: number): Promise<LeaseRead> {
    const owner = randomBytes(12).toString('base64url');
    const [status, p, a, b, c] = await runScript<
      [number, string?, (string | null)?, (string | number | null)?, (string | null)?]
    >(
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
        ...(c ? { attempt: JSON.parse(c) as AttemptRecord } : {}),
      },
    };
  }

  /**
   * Confirms (and extends) the lease and records the attempt about to be sent, in one round trip;
   * only `recorded` allows sending. `revision` is the credential revision the caller read.
   */
  async recordAttempt(
    lease: Lease,
    revision: number,
    record: AttemptRecord,
    ttlMs: number,
  ): Promise<RecordAttemptResult> {
    const out = await runScript<number>(
      this.redis,
      'record-attempt-2',
      [this.keys.lease(lease.credentialId), this.keys.credential(lease.credentialId)],
      [lease.owner, ttlMs, revision, JSON.stringify(record)],
    );
    return out === 1 ? 'recorded' : out === 0 ? 'lease_lost' : 'moved';
  }

  release(lease: Lease): Promise<boolean> {
    return this.releaseKey(this.keys.lease(lease.credentialId), lease.owner);
  }

  extend(lease: Lease, ttlMs: number): Promise<boolean> {
    return this.extendKey(this.keys.lease(lease.credentialId), lease.owner, ttlMs);
  }
}

/** A fleet-wide lock held by one process at a time (a leader's), by name. */
export interface HeldLock {
  name: string;
  owner: string;
}

/**
 * Named locks that elect one process of the fleet for a periodic task (the schedule sweep, the
 * re-encryption pass): `SET NX PX` with a random owner token, like the refresh lease; only the owner
 * extends or releases it.
 */
export class LeaderLock extends OwnedKeys {
  async acquire(name: string, ttlMs: number): Promise<HeldLock | undefined> {
    const owner = await this.take(this.keys.global(name), ttlMs);
    return owner ? { name, owner } : undefined;
  }

  extend(lock: HeldLock, ttlMs: number): Promise<boolean> {
    return this.extendKey(this.keys.global(lock.name), lock.owner, ttlMs);
  }

  release(lock: HeldLock): Promise<boolean> {
    return this.releaseKey(this.keys.global(lock.name), lock.owner);
  }
}
