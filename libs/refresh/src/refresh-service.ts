import { setTimeout as sleep } from 'node:timers/promises';
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
  staticTokenCheck,
  TokenkeeperError,
  tokenLifetime,
} from '#core';
import { type GrantClient, GrantConfigurationError, GrantError, type GrantResult } from '#grants';
import {
  type CredentialStore,
  type Lease,
  type LeaseManager,
  RevisionConflictError,
  type StoredCredential,
} from '#store';
import type { CredentialCipher } from './credential-secrets.js';
import { bindsOnPersist, type StoredSecrets, verifyDestination } from './destination-binding.js';
import type { RefreshJobData } from './queues.js';
import type { RefreshScheduler } from './refresh-scheduler.js';

export type RefreshOutcome =
  /** `grantMs`: time spent waiting for the provider; `persistMs`: from its answer to the stored event. */
  | { type: 'refreshed'; projection: CredentialProjection; grantMs: number; persistMs: number }
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

  /** Refreshes under way in this process; shutdown waits for them so none loses a rotated token. */
  private readonly inFlight = new Set<Promise<RefreshOutcome>>();

  run(job: RefreshJobData): Promise<RefreshOutcome> {
    const running = this.runOnce(job);
    this.inFlight.add(running);
    void running.finally(() => this.inFlight.delete(running)).catch(() => undefined);
    return running;
  }

  /** Resolves once every refresh under way has finished (or after `timeoutMs`). */
  async drain(timeoutMs: number): Promise<void> {
    if (this.inFlight.size === 0) return;
    // An unref'd timer: waiting out the deadline must not itself keep the process alive.
    await Promise.race([Promise.allSettled([...this.inFlight]), sleep(timeoutMs, undefined, { ref: false })]);
  }

  private async runOnce(job: RefreshJobData): Promise<RefreshOutcome> {
    // One round trip: take the lease and read the credential under it (or, when another worker
    // holds the lease, read it anyway so a stale job ends as stale rather than busy).
    const taken = await this.leases.acquireAndRead(job.credentialId, this.options.leaseTtlMs);
    if (taken.status === 'missing') return { type: 'stale', reason: 'credential not found' };
    if (taken.status === 'busy') {
      const stale = staleReason(taken.projection, job);
      if (stale) return { type: 'stale', reason: stale };
      return { type: 'busy', retryInMs: Math.max(100, taken.remainingMs) };
    }
    const lease: HeldLease = taken.lease;
    try {
      // Read under the lease: a refresh that finished just before we took it makes this job stale.
      const stale = staleReason(taken.stored.projection, job);
      if (stale) return { type: 'stale', reason: stale };
      return await this.refreshUnderLease(taken.stored, job, lease);
    } finally {
      // The successful append usually released it already, in its own round trip.
      if (!lease.released) await this.leases.release(lease).catch(() => false);
    }
  }

  /** Appends under the lease and releases it in the same round trip (owner-checked, in the script). */
  private async appendReleasing(
    lease: HeldLease,
    ...[id, current, events, options]: Parameters<CredentialStore['append']>
  ): ReturnType<CredentialStore['append']> {
    const out = await this.store.append(id, current, events, {
      ...options,
      releaseLease: { owner: lease.owner },
    });
    lease.released = true;
    return out;
  }

  private async refreshUnderLease(
    stored: StoredCredential,
    job: RefreshJobData,
    lease: Lease,
  ): Promise<RefreshOutcome> {
    const p = stored.projection;
    // An imported static token has no grant: its refresh time is a warning, its expiry the end.
    if (p.kind === 'static')
      return this.appendAndSchedule(lease, p, staticTokenCheck(p, this.now(), job.trigger));
    let result: GrantResult;
    let grantStarted = 0;
    let secrets: Awaited<ReturnType<CredentialCipher['decryptSecrets']>>;
    try {
      secrets = await this.cipher.decryptSecrets(p.id, stored.secrets);
      // Before anything is sent: the settings must be those the secrets were stored for.
      secrets = verifyDestination(p, stored.secrets, secrets);
      grantStarted = this.now();
      result = await this.grants.execute({
        kind: p.kind,
        grant: p.grant,
        secrets,
        timeoutMs: this.grantTimeout(p),
        credentialId: p.id,
        namespace: p.namespace,
        ...(p.token ? { current: p.token } : {}),
      });
    } catch (err) {
      return this.recordFailure(lease, p, job, failureOf(err));
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
    // Persist first: the rotated refresh token (or a grant's new session) exists nowhere else yet.
    const secretsChanged = rotated || result.secretsPatch !== undefined || bindsOnPersist(secrets);
    const grantSecrets = (base: StoredSecrets) =>
      this.cipher.encryptSecrets(p.id, {
        ...base,
        ...result.secretsPatch,
        ...(rotated ? { refreshToken: result.refreshToken } : {}),
      });
    const [secretsJwe, tokenJwe] = await Promise.all([
      secretsChanged ? grantSecrets(secrets) : undefined,
      this.cipher.encryptToken(p.id, result.accessToken),
    ]);
    let projection: CredentialProjection;
    try {
      projection = await this.persistGrantResult(
        lease,
        p,
        events,
        {
          token: tokenJwe,
          ...(secretsJwe ? { secrets: secretsJwe } : {}),
        },
        async (current) => {
          // A change that landed meanwhile (a rename, a PATCH of other secrets) must not cost the
          // token just obtained: rebase onto it. Secrets the user replaced win over the grant's.
          if (!secretsChanged) return undefined;
          const now = await this.cipher.decryptSecrets(p.id, current.secrets);
          if (now.refreshToken !== secrets.refreshToken) return undefined;
          // Settings changed meanwhile were bound with their own secrets: keep nothing of the old grant.
          if ((now.destination ?? secrets.destination) !== secrets.destination) return undefined;
          return grantSecrets({ ...now, destination: secrets.destination });
        },
      );
    } catch (err) {
      if (err instanceof RevisionConflictError) {
        return { type: 'stale', reason: `credential changed during the refresh (${err.message})` };
      }
      throw err;
    }
    const persisted = this.now();
    await this.scheduler.schedule(projection);
    return {
      type: 'refreshed',
      projection,
      grantMs: result.receivedAt - grantStarted,
      persistMs: persisted - result.receivedAt,
    };
  }

  /**
   * Persists what a grant returned, retrying through a Redis outage: giving up here would lose a
   * rotated refresh token that exists nowhere else, and the job's retry would present the old one
   * (which makes rotating providers revoke the whole grant). The lease is kept alive meanwhile so no
   * other worker starts a refresh of its own. If another change was appended meanwhile (the lease
   * keeps out other refreshes, not edits), the events are rebased onto it; only a credential that
   * was refreshed by someone else, removed or stopped refreshing ends it.
   */
  private async persistGrantResult(
    lease: HeldLease,
    p: CredentialProjection,
    events: NewEvent[],
    ciphertexts: { token: string; secrets?: string },
    rebaseSecrets: (current: StoredCredential) => Promise<string | undefined>,
  ): Promise<CredentialProjection> {
    const deadline = this.now() + PERSIST_DEADLINE_MS;
    let base = p;
    let cipher = ciphertexts;
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.appendReleasing(lease, p.id, base, events, cipher)).projection;
      } catch (err) {
        if (err instanceof RevisionConflictError) {
          const current = await this.store.get(p.id);
          const moved = current?.projection;
          if (
            !current ||
            !moved ||
            !isRefreshing(moved.state) ||
            moved.token?.tokenVersion !== p.token?.tokenVersion
          ) {
            throw err;
          }
          const secretsJwe = await rebaseSecrets(current);
          base = moved;
          cipher = { token: ciphertexts.token, ...(secretsJwe ? { secrets: secretsJwe } : {}) };
          continue;
        }
        if (this.now() >= deadline) throw err;
        await sleep(Math.min(2_000, 100 * attempt));
        await this.leases.extend(lease, this.options.leaseTtlMs).catch(() => false);
      }
    }
  }

  private async recordFailure(
    lease: HeldLease,
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
    return this.appendAndSchedule(lease, p, events, failure);
  }

  private async appendAndSchedule(
    lease: HeldLease,
    p: CredentialProjection,
    events: NewEvent[],
    failure: ClassifiedFailure = failureIn(events),
  ): Promise<RefreshOutcome> {
    let projection: CredentialProjection;
    try {
      ({ projection } = await this.appendReleasing(lease, p.id, p, events));
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

/** A lease this process holds; `released` once an append released it in the same round trip. */
type HeldLease = Lease & { released?: boolean };

/** How long a refresh keeps trying to persist a grant result through a Redis outage. */
const PERSIST_DEADLINE_MS = 120_000;

function staleReason(p: CredentialProjection, job: RefreshJobData): string | undefined {
  if (!isRefreshing(p.state)) return `credential is ${p.state}`;
  const tokenVersion = p.token?.tokenVersion ?? 0;
  if (tokenVersion !== job.tokenVersion) return `token already at version ${tokenVersion}`;
  if (!job.demand && p.failures !== job.attempt)
    return `attempt ${job.attempt} superseded (failures: ${p.failures})`;
  return undefined;
}

/** The failure a list of events records (its `refresh.failed`). */
function failureIn(events: NewEvent[]): ClassifiedFailure {
  const failed = events.find((e) => e.type === 'refresh.failed');
  if (failed?.type !== 'refresh.failed') throw new Error('no refresh.failed among the events');
  const { class: cls, code, message } = failed.data;
  return { class: cls, code, message };
}

function statusOf(f: ClassifiedFailure): { status?: number } {
  return f.status !== undefined ? { status: f.status } : {};
}

function failureOf(err: unknown): ClassifiedFailure {
  if (err instanceof GrantError) return classifyGrantFailure(err.failure);
  if (err instanceof GrantConfigurationError)
    return { class: 'permanent', code: err.code, message: err.message };
  // A key missing from this process's ring is a deployment fault, not the credential's: retry, so a
  // correctly configured worker (or this one, fixed) refreshes it. Tampering marks the credential.
  if (err instanceof TokenkeeperError && err.code === 'ENCRYPTION_KEY_MISSING') {
    return { class: 'transient', code: err.code, message: err.message };
  }
  if (err instanceof TokenkeeperError && err.code === 'SECRET_DECRYPTION_FAILED') {
    return { class: 'permanent', code: err.code, message: err.message };
  }
  throw err;
}
