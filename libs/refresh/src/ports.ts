import { setTimeout as sleep } from 'node:timers/promises';
import type { ClassifiedFailure, CredentialProjection, NewEvent } from '#core';
import type { GrantRequest, GrantResult } from '#grants';
import type {
  AppendOptions,
  AttemptRecord,
  Lease,
  LeaseRead,
  RecordAttemptResult,
  StoredCredential,
} from '#store';
import type { CredentialCipher } from './credential-secrets.js';

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

/**
 * Fields of the grant request and result, and of a classified failure, that tell whether a request
 * may have reached the provider and when it was sent (see error-classification and grant-client).
 */
export type TimedGrantRequest = GrantRequest & { deadlineMs?: number };
export type TimedGrantResult = GrantResult & { sentAt?: number };
export type OutcomeFailure = ClassifiedFailure & { outcome?: 'not_sent' | 'unknown' };
