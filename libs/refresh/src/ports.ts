import { setTimeout as sleep } from 'node:timers/promises';
import type { ClassifiedFailure, CredentialProjection, NewEvent, RefreshTrigger } from '#core';
import type { GrantRequest, GrantResult } from '#grants';
import type {
  AppendOptions,
  AttemptRecord,
  HeldLock,
  Lease,
  LeaseRead,
  Pool,
  RecordAttemptResult,
  StoredCredential,
  StoredEvent,
} from '#store';
import type { CredentialCipher } from './credential-secrets.js';
import type { PlannedJob } from './refresh-scheduler.js';

/**
 * The ports of the refresh use case: what RefreshService needs from the store, the lease, the
 * scheduler and time. CredentialStore, LeaseManager and RefreshScheduler implement them on Redis
 * and BullMQ; ./testing has in-memory implementations and a controllable clock.
 */
export interface RefreshStorePort {
  get(id: string): Promise<StoredCredential | undefined>;
  append(
    id: string,
    current: CredentialProjection | undefined,
    events: NewEvent[],
    options?: AppendOptions,
  ): Promise<{ projection: CredentialProjection }>;
}

export interface RefreshLeasePort {
  acquireAndRead(credentialId: string, ttlMs: number): Promise<LeaseRead>;
  extend(lease: Lease, ttlMs: number): Promise<boolean>;
  release(lease: Lease): Promise<boolean>;
  recordAttempt(
    lease: Lease,
    revision: number,
    record: AttemptRecord,
    ttlMs: number,
  ): Promise<RecordAttemptResult>;
}

export interface RefreshSchedulerPort {
  schedule(p: CredentialProjection): Promise<unknown>;
}

/** Reading a credential as the token service does. */
export interface TokenStorePort {
  get(id: string): Promise<StoredCredential | undefined>;
  getProjection(id: string): Promise<CredentialProjection | undefined>;
}

/** Asking for a refresh now, shared with every other pending demand for the same token version. */
export interface DemandSchedulerPort {
  demand(p: CredentialProjection, trigger: RefreshTrigger): Promise<{ jobId: string }>;
}

/** What registering, changing and removing credentials needs from the store. */
export interface CredentialStorePort extends RefreshStorePort, TokenStorePort {
  getMany(ids: string[]): Promise<(CredentialProjection | undefined)[]>;
  history(id: string, opts?: { afterRevision?: number; limit?: number }): Promise<StoredEvent[]>;
  /** Lets a deleted credential's hash and history expire after `retentionSeconds`. */
  expireCredential(id: string, retentionSeconds: number): Promise<void>;
}

/** What registering, changing and removing credentials needs from the scheduler. */
export interface CredentialSchedulerPort extends RefreshSchedulerPort, DemandSchedulerPort {
  cancel(p: CredentialProjection): Promise<void>;
}

/** Every credential id, a page at a time, partition by partition, and their projections. */
export interface CredentialScanPort {
  readonly keys: { readonly partitions: number };
  idsOfPartition(partition: number, pageSize?: number): AsyncIterable<string[]>;
  getMany(ids: string[]): Promise<(CredentialProjection | undefined)[]>;
}

/** The refresh jobs the schedule sweep inspects and repairs. */
export interface PlannedJobsPort {
  add(plan: PlannedJob): Promise<unknown>;
  /** `unknown` when there is no such job; else `delayed`, `waiting`, `active`, `completed`, `failed`… */
  jobState(jobId: string): Promise<string>;
  remove(jobId: string): Promise<void>;
  /** Runs a delayed job now. */
  promote(jobId: string): Promise<void>;
}

/** Where ciphertexts are stored, for the re-encryption pass and the key census. */
export interface CiphertextStorePort extends CredentialScanPort {
  readonly keys: { readonly partitions: number; credential(id: string): string };
  getProjection(id: string): Promise<CredentialProjection | undefined>;
  /** The values of `hashFields` in each credential's hash; undefined for a read that failed. */
  credentialFields(ids: string[], hashFields: string[]): Promise<((string | null)[] | undefined)[]>;
  /** Compare-and-set of one hash field: whether `expected` was still there and got replaced. */
  replaceFieldIf(key: string, hashField: string, expected: string, next: string): Promise<boolean>;
  readGlobal(name: string): Promise<string | undefined>;
  writeGlobal(name: string, value: string): Promise<void>;
}

/** Named locks held by one process of the fleet at a time (`sweep-lock`, `reencrypt:lock`). */
export interface LeaderLockPort {
  acquire(name: string, ttlMs: number): Promise<HeldLock | undefined>;
  extend(lock: HeldLock, ttlMs: number): Promise<boolean>;
  release(lock: HeldLock): Promise<boolean>;
}

export type RefreshCipherPort = Pick<CredentialCipher, 'encryptSecrets' | 'decryptSecrets' | 'encryptToken'>;

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Calls `fn` every `ms` until the returned function is called; never keeps the process alive. */
  every(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => sleep(ms),
  every(ms, fn) {
    const timer = setInterval(fn, ms);
    timer.unref();
    return () => clearInterval(timer);
  },
};

/** The clock a use case's options give: `clock`, else the system clock with `now` replaced. */
export function clockOf(options: { clock?: Clock; now?: () => number }): Clock {
  const now = options.now;
  return options.clock ?? (now ? { ...systemClock, now } : systemClock);
}

/**
 * Fields of the grant request and result, and of a classified failure, that tell whether a request
 * may have reached the provider and when it was sent (see error-classification and grant-client).
 */
export type TimedGrantRequest = GrantRequest & { deadlineMs?: number };
export type TimedGrantResult = GrantResult & { sentAt?: number };
export type OutcomeFailure = ClassifiedFailure & { outcome?: 'not_sent' | 'unknown' };

/** Pools by namespace: `get` and `delete` of another namespace's pool throw `PoolNotFoundError`. */
export interface PoolStorePort {
  create(pool: Pool): Promise<void>;
  get(namespace: string, id: string): Promise<Pool>;
  list(namespace: string): Promise<Pool[]>;
  delete(namespace: string, id: string): Promise<void>;
  /** The pool's round-robin counter after one more increment (1 on the first call). */
  nextIndex(id: string): Promise<number>;
}
