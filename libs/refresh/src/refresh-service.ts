import {
  type BackoffPolicy,
  type ClassifiedFailure,
  type CredentialProjection,
  classifyGrantFailure,
  computeRefreshAt,
  isRefreshing,
  type NewEvent,
  newEvent,
  nextAttemptAt,
  type RefreshPolicy,
  resolvePolicy,
  TokenkeeperError,
  tokenLifetime,
} from '#core';
import { type GrantClient, GrantConfigurationError, GrantError, type GrantResult } from '#grants';
import {
  type CredentialStore,
  type LeaseManager,
  RevisionConflictError,
  type StoredCredential,
} from '#store';
import type { CredentialCipher } from './credential-secrets.js';
import type { RefreshJobData } from './queues.js';
import type { RefreshScheduler } from './refresh-scheduler.js';

export type RefreshOutcome =
  | { type: 'refreshed'; projection: CredentialProjection }
  | { type: 'failed'; failure: ClassifiedFailure; projection: CredentialProjection }
  /** The job no longer matches the credential (refreshed meanwhile, deleted, duplicate run). */
  | { type: 'stale'; reason: string }
  /** Another refresh of this credential is in flight; try again after `retryInMs`. */
  | { type: 'busy'; retryInMs: number };

export interface RefreshServiceOptions {
  policy: RefreshPolicy;
  backoff: BackoffPolicy;
  grantTimeoutMs: number;
  leaseTtlMs: number;
  now?: () => number;
  random?: () => number;
}

/**
 * The refresh use case: lease the credential, perform its grant, persist the new token set with
 * its `token.updated` event in one atomic append, then schedule the next refresh.
 *
 * Crash window: between the provider's answer and the append returning, a worker that dies
 * loses a rotated refresh token. Nothing else happens in that window — the append is the first
 * thing done with the response, in one round trip — and the lease outlives the grant timeout,
 * so no second worker presents the old refresh token while the first may still persist.
 */
export class RefreshService {
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(
    private readonly store: CredentialStore,
    private readonly leases: LeaseManager,
    private readonly cipher: CredentialCipher,
    private readonly grants: GrantClient,
    private readonly scheduler: RefreshScheduler,
    private readonly options: RefreshServiceOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  async run(job: RefreshJobData): Promise<RefreshOutcome> {
    const before = await this.store.getProjection(job.credentialId);
    const staleBefore = before ? staleReason(before, job) : 'credential not found';
    if (staleBefore) return { type: 'stale', reason: staleBefore };

    const lease = await this.leases.acquire(job.credentialId, this.options.leaseTtlMs);
    if (!lease)
      return { type: 'busy', retryInMs: Math.max(100, await this.leases.remainingMs(job.credentialId)) };
    try {
      // Re-read under the lease: a refresh that finished just before we took it makes this job stale.
      const stored = await this.store.get(job.credentialId);
      const stale = stored ? staleReason(stored.projection, job) : 'credential not found';
      if (stale || !stored) return { type: 'stale', reason: stale ?? 'credential not found' };
      return await this.refreshUnderLease(stored, job);
    } finally {
      await this.leases.release(lease).catch(() => false);
    }
  }

  private async refreshUnderLease(stored: StoredCredential, job: RefreshJobData): Promise<RefreshOutcome> {
    const p = stored.projection;
    let result: GrantResult;
    let secrets: Awaited<ReturnType<CredentialCipher['decryptSecrets']>>;
    try {
      secrets = await this.cipher.decryptSecrets(p.id, stored.secrets);
      result = await this.grants.execute({
        kind: p.kind,
        grant: p.grant,
        secrets,
        timeoutMs: this.grantTimeout(p),
      });
    } catch (err) {
      return this.recordFailure(p, job, failureOf(err));
    }

    const policy = resolvePolicy(this.options.policy, p.policy);
    const lifetime = tokenLifetime(
      {
        receivedAt: result.receivedAt,
        ...(result.expiresInSeconds !== undefined ? { expiresInSeconds: result.expiresInSeconds } : {}),
        accessToken: result.accessToken,
      },
      policy,
    );
    const refreshAt = computeRefreshAt(result.receivedAt, lifetime.expiresAt, policy, this.random);
    const rotated = result.refreshToken !== undefined && result.refreshToken !== secrets.refreshToken;
    const at = this.now();
    const events: NewEvent[] = [
      newEvent('token.updated', at, {
        tokenVersion: (p.token?.tokenVersion ?? 0) + 1,
        issuedAt: result.receivedAt,
        expiresAt: lifetime.expiresAt,
        refreshAt,
        tokenType: result.tokenType,
        ...(result.scope !== undefined ? { scope: result.scope } : {}),
        refreshTokenRotated: rotated,
        trigger: job.trigger,
        lifetimeSource: lifetime.source,
      }),
    ];
    if (p.state === 'expired') {
      const downtimeMs = Math.max(0, at - (p.token?.expiresAt ?? at));
      events.push(newEvent('credential.recovered', at, { afterAttempts: p.failures, downtimeMs }));
    }
    // Persist first: the rotated refresh token exists nowhere else yet.
    const [secretsJwe, tokenJwe] = await Promise.all([
      rotated
        ? this.cipher.encryptSecrets(p.id, { ...secrets, refreshToken: result.refreshToken })
        : undefined,
      this.cipher.encryptToken(p.id, result.accessToken),
    ]);
    let projection: CredentialProjection;
    try {
      ({ projection } = await this.store.append(p.id, p, events, {
        token: tokenJwe,
        ...(secretsJwe ? { secrets: secretsJwe } : {}),
      }));
    } catch (err) {
      if (err instanceof RevisionConflictError) {
        return { type: 'stale', reason: `credential changed during the refresh (${err.message})` };
      }
      throw err;
    }
    await this.scheduler.schedule(projection);
    return { type: 'refreshed', projection };
  }

  private async recordFailure(
    p: CredentialProjection,
    job: RefreshJobData,
    failure: ClassifiedFailure,
  ): Promise<RefreshOutcome> {
    const at = this.now();
    const attempt = p.failures + 1;
    const events: NewEvent[] = [];
    if (failure.class === 'permanent') {
      events.push(
        newEvent('refresh.failed', at, {
          attempt,
          class: 'permanent',
          code: failure.code,
          message: failure.message,
          ...statusOf(failure),
          trigger: job.trigger,
        }),
        newEvent('credential.reauth_required', at, { code: failure.code, message: failure.message }),
      );
    } else {
      const next = nextAttemptAt(
        {
          now: at,
          attempt,
          ...(p.token ? { expiresAt: p.token.expiresAt } : {}),
          ...(failure.retryAfterMs !== undefined ? { retryAfterMs: failure.retryAfterMs } : {}),
          random: this.random,
        },
        this.options.backoff,
      );
      events.push(
        newEvent('refresh.failed', at, {
          attempt,
          class: 'transient',
          code: failure.code,
          message: failure.message,
          ...statusOf(failure),
          nextAttemptAt: next,
          trigger: job.trigger,
        }),
      );
      if (p.token && p.state === 'active' && at >= p.token.expiresAt) {
        events.push(newEvent('credential.expired', at, { expiredAt: p.token.expiresAt }));
      }
    }
    let projection: CredentialProjection;
    try {
      ({ projection } = await this.store.append(p.id, p, events));
    } catch (err) {
      if (err instanceof RevisionConflictError)
        return { type: 'stale', reason: 'credential changed during the refresh' };
      throw err;
    }
    await this.scheduler.schedule(projection);
    return { type: 'failed', failure, projection };
  }

  private grantTimeout(p: CredentialProjection): number {
    return Math.min(p.grant.timeoutMs ?? this.options.grantTimeoutMs, this.options.leaseTtlMs - 1000);
  }
}

function staleReason(p: CredentialProjection, job: RefreshJobData): string | undefined {
  if (!isRefreshing(p.state)) return `credential is ${p.state}`;
  const tokenVersion = p.token?.tokenVersion ?? 0;
  if (tokenVersion !== job.tokenVersion) return `token already at version ${tokenVersion}`;
  if (!job.demand && p.failures !== job.attempt)
    return `attempt ${job.attempt} superseded (failures: ${p.failures})`;
  return undefined;
}

function statusOf(f: ClassifiedFailure): { status?: number } {
  return f.status !== undefined ? { status: f.status } : {};
}

function failureOf(err: unknown): ClassifiedFailure {
  if (err instanceof GrantError) return classifyGrantFailure(err.failure);
  if (err instanceof GrantConfigurationError)
    return { class: 'permanent', code: err.code, message: err.message };
  if (err instanceof TokenkeeperError && err.code === 'SECRET_DECRYPTION_FAILED') {
    return { class: 'permanent', code: err.code, message: err.message };
  }
  throw err;
}
