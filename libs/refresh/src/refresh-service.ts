import { createHash } from 'node:crypto';
import { EncryptionKeyMissingError, SecretDecryptionError, workerId } from '#common';
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
  type ResolvedRotation,
  resolvePolicy,
  staticTokenCheck,
  tokenLifetime,
} from '#core';
import { type CredentialSecrets, type GrantClient, GrantConfigurationError, GrantError } from '#grants';
import type { RefreshJobData } from '#queues';
import {
  type AttemptRecord,
  FencedError,
  type Lease,
  RevisionConflictError,
  type StoredCredential,
} from '#store';
import { bindsOnPersist, type StoredSecrets, verifyDestination } from './destination-binding.js';
import { KINDS, type KindSet } from './kinds/index.js';
import {
  type Clock,
  clockOf,
  type OutcomeFailure,
  type RefreshCipherPort,
  type RefreshLeasePort,
  type RefreshSchedulerPort,
  type RefreshStorePort,
  type TimedGrantRequest,
  type TimedGrantResult,
} from './ports.js';

export type RefreshOutcome =
  /** `grantMs`: time spent waiting for the provider; `persistMs`: from its answer to the stored event. */
  | { type: 'refreshed'; projection: CredentialProjection; grantMs: number; persistMs: number }
  | { type: 'failed'; failure: ClassifiedFailure; projection: CredentialProjection }
  /** The job no longer matches the credential (refreshed meanwhile, deleted, duplicate run). */
  | { type: 'stale'; reason: string }
  /** Another refresh of this credential is in flight (or the lease could not be confirmed); try again after `retryInMs`. */
  | { type: 'busy'; retryInMs: number };

export interface RefreshServiceOptions {
  policy: RefreshPolicy;
  backoff: BackoffPolicy;
  /** Soft timeout: connect timeout, and the time after which an answer counts as late. */
  grantTimeoutMs: number;
  /** Hard deadline for an answer once the request was sent (default: the lease TTL). */
  grantDeadlineMs?: number;
  leaseTtlMs: number;
  /** This process in attempt records (default `host:pid`). */
  workerId?: string;
  clock?: Clock;
  /** Shorthand for a clock that only replaces `now`. */
  now?: () => number;
  random?: () => number;
  /**
   * How long after storing a rotated refresh token it is read back (default 2 s, past an
   * `appendfsync everysec` window); if Redis came back without it, it is appended again.
   */
  durabilityWindowMs?: number;
  /** Called when something goes wrong that no job outcome shows (a refused persist, a lost lease). */
  onAlert?: (msg: string, fields: Record<string, unknown>) => void;
  /** The kinds credentials may be of: the catalog's (default), or a test's own catalog. */
  kinds?: KindSet;
}

/** How many times one run presents the same refresh token inside a provider's grace period. */
const MAX_GRACE_PRESENTATIONS = 3;

/**
 * The refresh use case: lease the credential, record the attempt, perform its grant, persist the
 * new token set with its `token.updated` event in one atomic append, then schedule the next refresh.
 *
 * Crash window and its cover: the lease is renewed every third of its TTL while the refresh runs
 * (grant and persist), and before the request is sent a write-ahead attempt record (fenced by the
 * lease owner) says which refresh-token generation goes out, when and from which worker. The append
 * that stores the outcome clears it. A worker that finds an unresolved record knows the outcome of
 * that attempt is unknown and resolves it per the credential's rotation settings; the earlier
 * holder, if it is still alive, can no longer persist once the new one recorded its own attempt.
 */
export class RefreshService {
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly kinds: KindSet;

  constructor(
    private readonly store: RefreshStorePort,
    private readonly leases: RefreshLeasePort,
    private readonly cipher: RefreshCipherPort,
    private readonly grants: GrantClient,
    private readonly scheduler: RefreshSchedulerPort,
    private readonly options: RefreshServiceOptions,
  ) {
    this.clock = clockOf(options);
    this.random = options.random ?? Math.random;
    this.kinds = options.kinds ?? KINDS;
    this.workerId = options.workerId ?? workerId();
    this.clock.every(1_000, () => void this.confirmStored());
  }

  /**
   * Rotated secrets this process stored and has not yet seen stored again after the durability
   * window: a Redis that crashed (or failed over to a lagging replica) may have lost the append.
   */
  private readonly unconfirmed = new Map<string, Unconfirmed>();
  private confirming = false;

  /** Credentials whose rotated secrets are not confirmed durable yet. */
  unconfirmedCount(): number {
    return this.unconfirmed.size;
  }

  /**
   * Reads back the rotated secrets stored at least one durability window ago. Seen (or superseded
   * by a later token): forgotten. Missing (Redis came back without them): appended again under
   * the lease. Redis unreachable: tried again on the next tick.
   */
  async confirmStored(): Promise<void> {
    if (this.confirming || this.unconfirmed.size === 0) return;
    this.confirming = true;
    try {
      const due = this.now() - (this.options.durabilityWindowMs ?? 2_000);
      for (const [id, entry] of this.unconfirmed) {
        if (entry.storedAt > due) continue;
        const current = await this.store.get(id).catch(() => 'unreachable' as const);
        if (current === 'unreachable') return;
        const version = current?.projection.token?.tokenVersion ?? 0;
        if (!current || !isRefreshing(current.projection.state) || version >= entry.tokenVersion) {
          this.unconfirmed.delete(id);
          continue;
        }
        if (await this.appendAgain(id, entry)) this.unconfirmed.delete(id);
      }
    } finally {
      this.confirming = false;
    }
  }

  private async appendAgain(id: string, entry: Unconfirmed): Promise<boolean> {
    const taken = await this.leases.acquireAndRead(id, this.options.leaseTtlMs).catch(() => undefined);
    if (taken?.status !== 'leased') return taken?.status === 'missing';
    try {
      const p = taken.stored.projection;
      if ((p.token?.tokenVersion ?? 0) !== entry.tokenVersion - 1) return true;
      this.alert('rotated secrets were missing from Redis after they were stored; appending them again', id);
      const { projection } = await this.store.append(id, p, entry.events, {
        ...entry.ciphertexts,
        releaseLease: { owner: taken.lease.owner },
        durable: true,
      });
      await this.scheduler.schedule(projection);
      return true;
    } catch {
      await this.leases.release(taken.lease).catch(() => false);
      return false;
    }
  }

  private readonly workerId: string;

  private now(): number {
    return this.clock.now();
  }

  /** Refreshes under way in this process, and whether each holds a grant result not yet stored. */
  private readonly inFlight = new Map<Promise<RefreshOutcome>, RunState>();

  run(job: RefreshJobData): Promise<RefreshOutcome> {
    const state: RunState = { sending: false, holdsResult: false };
    const running = this.runOnce(job, state);
    this.inFlight.set(running, state);
    void running.finally(() => this.inFlight.delete(running)).catch(() => undefined);
    return running;
  }

  /**
   * Whether a refresh of this process holds a successful grant it has not stored yet, or waits for
   * the answer to a request it sent (bounded by the grant deadline): exiting now could lose a
   * rotated refresh token.
   */
  holdsGrantResults(): boolean {
    for (const state of this.inFlight.values()) if (mustFinish(state)) return true;
    return false;
  }

  /**
   * Resolves once every refresh under way has finished, or after `timeoutMs` — except that a
   * refresh holding a successful grant (or waiting for the answer to its request, at most the grant
   * deadline) is always waited for: its rotated secrets exist nowhere else.
   */
  async drain(timeoutMs: number): Promise<void> {
    if (this.inFlight.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    });
    await Promise.race([Promise.allSettled([...this.inFlight.keys()]), deadline]);
    clearTimeout(timer);
    const holding = [...this.inFlight].filter(([, s]) => mustFinish(s)).map(([p]) => p);
    await Promise.allSettled(holding);
  }

  private async runOnce(job: RefreshJobData, state: RunState): Promise<RefreshOutcome> {
    const ttl = this.options.leaseTtlMs;
    // One round trip: take the lease and read the credential under it (or, when another worker
    // holds the lease, read it anyway so a stale job ends as stale rather than busy).
    const taken = await this.leases.acquireAndRead(job.credentialId, ttl);
    if (taken.status === 'missing') return { type: 'stale', reason: 'credential not found' };
    if (taken.status === 'busy') {
      const stale = staleReason(taken.projection, job);
      if (stale) return { type: 'stale', reason: stale };
      // The holder renews every third of the TTL: look again at a random point of the next
      // third, never all at the holder's expiry.
      return { type: 'busy', retryInMs: this.busyRetryMs(taken.remainingMs) };
    }
    const lease: HeldLease = { ...taken.lease, released: false, lost: false };
    const stopHeartbeat = this.clock.every(Math.max(100, Math.floor(ttl / 3)), () => {
      if (lease.lost || lease.released) return;
      this.leases.extend(lease, ttl).then(
        (ok) => {
          if (!ok && !lease.released) lease.lost = true;
        },
        // Redis unreachable: keep trying; the attempt record still fences the persist.
        () => undefined,
      );
    });
    try {
      // Read under the lease: a refresh that finished just before we took it makes this job stale.
      const stale = staleReason(taken.stored.projection, job);
      if (stale) return { type: 'stale', reason: stale };
      return await this.refreshUnderLease(taken.stored, job, lease, state);
    } finally {
      stopHeartbeat();
      // The successful append usually released it already, in its own round trip.
      if (!lease.released) await this.leases.release(lease).catch(() => false);
    }
  }

  private busyRetryMs(remainingMs: number): number {
    const third = Math.max(100, Math.floor(this.options.leaseTtlMs / 3));
    return Math.max(100, Math.round(Math.min(remainingMs, third) * (0.5 + this.random())));
  }

  /** Appends under the lease, fenced by its owner, and releases it in the same round trip. */
  private async appendFenced(
    lease: HeldLease,
    id: string,
    current: CredentialProjection,
    events: NewEvent[],
    options: { secrets?: string; token?: string; clearAttempt: boolean },
  ): Promise<{ projection: CredentialProjection }> {
    const { clearAttempt, ...ciphertexts } = options;
    const out = await this.store.append(id, current, events, {
      ...ciphertexts,
      releaseLease: { owner: lease.owner },
      fence: { owner: lease.owner, clearAttempt },
      ...(ciphertexts.secrets !== undefined ? { durable: true } : {}),
    });
    lease.released = true;
    return out;
  }

  /** Takes a lapsed lease back for a refresh holding a result, unless another worker took over. */
  private async retakeLease(lease: HeldLease): Promise<boolean> {
    const taken = await this.leases.acquireAndRead(lease.credentialId, this.options.leaseTtlMs);
    if (taken.status !== 'leased') return false;
    // An attempt record that is not ours (our own keeps fencing by its owner, never refused) means
    // another run recorded an attempt: its outcome is the one to store.
    if (taken.stored.attempt) {
      await this.leases.release(taken.lease).catch(() => false);
      return false;
    }
    lease.owner = taken.lease.owner;
    lease.lost = false;
    lease.released = false;
    return true;
  }

  private async refreshUnderLease(
    stored: StoredCredential,
    job: RefreshJobData,
    lease: HeldLease,
    state: RunState,
  ): Promise<RefreshOutcome> {
    const p = stored.projection;
    const ctx: Resolution = { events: [], attempt: p.failures, job };
    // An imported token (a known kind without a grant) has no refresh: its refresh time is a
    // warning, its expiry the end. A kind the service's kinds do not hold goes to the grant client,
    // which refuses it as misconfigured.
    const kind = this.kinds.find(p.kind);
    if (kind && !kind.grantClient) {
      const events = staticTokenCheck(p, this.now(), job.trigger);
      return this.appendAndSchedule(lease, p, events, lastFailure(events), true);
    }
    let secrets: StoredSecrets;
    try {
      secrets = await this.cipher.decryptSecrets(p.id, stored.secrets);
      // Before anything is sent: the settings must be those the secrets were stored for.
      secrets = verifyDestination(p, stored.secrets, secrets, this.kinds);
    } catch (err) {
      return this.recordFailure(lease, p, ctx, failureOf(err), true);
    }
    const rotation = this.kinds.resolveRotation(p.kind, p.rotation);
    const generation = generationOf(secrets);
    const tokenVersion = p.token?.tokenVersion ?? 0;
    const found = stored.attempt;
    if (found && found.generation === generation && found.tokenVersion === tokenVersion) {
      // A refresh sent this very refresh token and its outcome was never stored: its worker died
      // or stalled past its lease. Whatever the provider did with it, nobody saw the answer.
      ctx.lost = found.lost ?? { sentAt: found.sentAt, worker: found.worker };
      ctx.fromRecord = true;
      ctx.events.push(
        this.failedEvent(ctx, {
          class: 'transient',
          code: 'OUTCOME_UNKNOWN',
          message: `no answer was stored for the request sent at ${iso(found.sentAt)} by worker ${found.worker} (it stopped renewing its lease)`,
          outcome: 'unknown',
        }),
      );
      // The record is itself a re-presentation whose answer was lost too: either request may have
      // consumed the token, and the failure names both. Presenting it again is still the only way
      // to keep a credential whose requests never arrived (a strict provider's grant is revoked by
      // the first reuse already, so a further presentation costs nothing more).
      if (found.lost)
        ctx.relost = [...(found.relost ?? []), { sentAt: found.sentAt, worker: found.worker }].slice(
          -MAX_RELOST_NAMED,
        );
    }

    for (let presentations = 1; ; presentations++) {
      const sentAt = this.now();
      const record: AttemptRecord = {
        generation,
        tokenVersion,
        sentAt,
        worker: this.workerId,
        ...(ctx.lost ? { lost: ctx.lost } : {}),
        ...(ctx.relost?.length ? { relost: ctx.relost } : {}),
      };
      // Confirm the lease and write the attempt ahead of the request. Without both, do not send.
      // A grant that consumes nothing (rotation `none`) needs neither: sending it twice is harmless,
      // and its append is fenced by the lease alone (unless a record is left to take over).
      const recorded =
        rotation.mode === 'none' && !found
          ? 'recorded'
          : await this.leases.recordAttempt(lease, p.revision, record, this.options.leaseTtlMs);
      if (recorded === 'moved')
        return { type: 'stale', reason: 'credential changed before the request was sent' };
      if (recorded === 'lease_lost') {
        lease.lost = true;
        return { type: 'busy', retryInMs: this.busyRetryMs(this.options.leaseTtlMs) };
      }
      let result: TimedGrantResult;
      try {
        const request: TimedGrantRequest = {
          kind: p.kind,
          grant: p.grant,
          secrets,
          timeoutMs: this.grantTimeout(p),
          deadlineMs: this.options.grantDeadlineMs ?? this.options.leaseTtlMs,
          credentialId: p.id,
          namespace: p.namespace,
          ...(p.token ? { current: p.token } : {}),
        };
        state.sending = true;
        result = await this.grants.execute(request);
      } catch (err) {
        state.sending = false;
        let failure: OutcomeFailure = failureOf(err);
        if (failure.outcome === 'unknown') {
          ctx.lost ??= { sentAt, worker: this.workerId };
          ctx.events.push(this.failedEvent(ctx, failure));
          if (this.presentAgain(rotation, ctx, presentations)) continue;
          // Keep the record: the next attempt must know this generation may be consumed.
          return this.recordFailure(lease, p, ctx, undefined, rotation.mode === 'none');
        }
        if (ctx.lost && rotation.mode !== 'none' && failure.code === 'INVALID_GRANT') {
          failure = {
            class: 'permanent',
            code: 'REFRESH_TOKEN_LOST',
            message: `the refresh token was consumed by the request sent at ${iso(ctx.lost.sentAt)} by worker ${ctx.lost.worker}${relostText(ctx)}, whose answer was lost; presenting it again was refused (${failure.message})`,
            ...statusOf(failure),
          };
        }
        // While an unknown outcome is unresolved (the re-presentation met a 5xx, say), keep the
        // record: the next attempt must still know this refresh token may have been consumed.
        const resolved = rotation.mode === 'none' || !ctx.lost || failure.class === 'permanent';
        return this.recordFailure(lease, p, ctx, failure, resolved);
      }
      state.holdsResult = true;
      state.sending = false;
      return this.storeGrantResult(lease, p, ctx, secrets, result, sentAt);
    }
  }

  /** Whether an unknown outcome is resolved by presenting the same refresh token again right away. */
  private presentAgain(rotation: ResolvedRotation, ctx: Resolution, presentations: number): boolean {
    if (rotation.mode === 'none' || !ctx.lost) return false;
    const inGrace = rotation.mode === 'grace' && this.now() < ctx.lost.sentAt + rotation.graceSeconds * 1000;
    if (inGrace) return presentations < MAX_GRACE_PRESENTATIONS;
    // Strict (or past the grace): once, in case the request never arrived; a found record's
    // resolution already was that once.
    return presentations === 1 && !ctx.fromRecord;
  }

  private async storeGrantResult(
    lease: HeldLease,
    p: CredentialProjection,
    ctx: Resolution,
    secrets: StoredSecrets,
    result: TimedGrantResult,
    sentAt: number,
  ): Promise<RefreshOutcome> {
    const policy = resolvePolicy(this.options.policy, p.policy);
    // The provider issued the token at some point after the request left: lifetimes count from then.
    const issuedAt = Math.min(result.sentAt ?? sentAt, result.receivedAt);
    const answerMs = result.receivedAt - issuedAt;
    // Providers count `expires_in` from an issue time they keep in whole seconds (`iat`), up to a
    // second before the request arrived: count it a second early (a tenth of a very short lifetime),
    // so the expiry is never later than the provider's. A fixed offset rather than rounding to the
    // second keeps the credentials' refresh times spread out instead of bunched on whole seconds.
    // A JWT tokenkeeper mints itself has exactly the lifetime it was given.
    const skewMs =
      !this.kinds.find(p.kind)?.exactLifetime &&
      result.expiresInSeconds !== undefined &&
      result.expiresInSeconds > 0
        ? Math.min(1000, Math.floor(result.expiresInSeconds * 100))
        : 0;
    const lifetime = tokenLifetime(
      {
        receivedAt: issuedAt - skewMs,
        ...(result.expiresInSeconds !== undefined ? { expiresInSeconds: result.expiresInSeconds } : {}),
        accessToken: result.accessToken,
      },
      policy,
    );
    const refreshAt = computeRefreshAt(issuedAt, lifetime.expiresAt, policy, this.random);
    const rotated = result.refreshToken !== undefined && result.refreshToken !== secrets.refreshToken;
    const at = this.now();
    const events: NewEvent[] = [
      ...ctx.events,
      newEvent('token.updated', at, {
        tokenVersion: (p.token?.tokenVersion ?? 0) + 1,
        issuedAt,
        expiresAt: lifetime.expiresAt,
        refreshAt,
        tokenType: result.tokenType,
        ...(result.scope !== undefined ? { scope: result.scope } : {}),
        refreshTokenRotated: rotated,
        trigger: ctx.job.trigger,
        lifetimeSource: lifetime.source,
        // An answer past the soft timeout is kept, and its lateness recorded.
        ...(answerMs > this.grantTimeout(p) ? { lateAnswerMs: answerMs } : {}),
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
        { token: tokenJwe, ...(secretsJwe ? { secrets: secretsJwe } : {}) },
        async (current) => {
          // A change that landed meanwhile (a rename, a PATCH of other secrets) must not cost the
          // token just obtained: rebase onto it. Secrets the user replaced win over the grant's.
          if (!secretsChanged) return undefined;
          let now: StoredSecrets;
          try {
            now = await this.cipher.decryptSecrets(p.id, current.secrets);
          } catch {
            // Unreadable here: keep the grant's secrets rather than lose the rotated token.
            return secretsJwe;
          }
          if (now.refreshToken !== secrets.refreshToken) return undefined;
          // Settings changed meanwhile were bound with their own secrets: keep nothing of the old grant.
          if ((now.destination ?? secrets.destination) !== secrets.destination) return undefined;
          return grantSecrets({ ...now, destination: secrets.destination });
        },
      );
    } catch (err) {
      if (err instanceof RevisionConflictError) {
        this.alert(
          'a refresh did not store its grant result: the credential was refreshed, failed or removed meanwhile',
          p.id,
        );
        return { type: 'stale', reason: `credential changed during the refresh (${err.message})` };
      }
      if (err instanceof FencedError) {
        this.alert('a refresh did not store its grant result: it lost its lease to another worker', p.id);
        return { type: 'stale', reason: 'another worker took over the refresh before its result was stored' };
      }
      throw err;
    }
    const persisted = this.now();
    if (secretsJwe && projection.token) {
      this.unconfirmed.set(p.id, {
        events: events.filter((e) => e.type !== 'refresh.failed'),
        tokenVersion: projection.token.tokenVersion,
        ciphertexts: { token: tokenJwe, secrets: secretsJwe },
        storedAt: persisted,
      });
    }
    await this.scheduler.schedule(projection);
    return {
      type: 'refreshed',
      projection,
      grantMs: result.receivedAt - sentAt,
      persistMs: persisted - result.receivedAt,
    };
  }

  /**
   * Persists what a grant returned, retrying through a Redis outage for as long as it takes: giving
   * up would lose a rotated refresh token that exists nowhere else. The heartbeat keeps the lease
   * meanwhile; if it lapses, the attempt record still fences the append until another worker
   * records an attempt of its own. Another change appended meanwhile (the lease keeps out other
   * refreshes, not edits) is rebased onto; only a credential that was removed or refreshed by
   * someone else, or a refresh taken over by another worker, ends it.
   */
  private async persistGrantResult(
    lease: HeldLease,
    p: CredentialProjection,
    events: NewEvent[],
    ciphertexts: { token: string; secrets?: string },
    rebaseSecrets: (current: StoredCredential) => Promise<string | undefined>,
  ): Promise<CredentialProjection> {
    let base = p;
    let cipher = ciphertexts;
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.appendFenced(lease, p.id, base, events, { ...cipher, clearAttempt: true }))
          .projection;
      } catch (err) {
        if (err instanceof FencedError) {
          // The lease lapsed (a long Redis outage, a stall). If nobody took the refresh over since
          // — no one holds the lease, no other attempt is recorded — take the lease again and store.
          if (!(await this.retakeLease(lease))) throw err;
          continue;
        }
        if (err instanceof RevisionConflictError) {
          const current = await this.store.get(p.id).catch(() => 'unreachable' as const);
          if (current === 'unreachable') {
            await this.clock.sleep(backoffMs(attempt));
            continue;
          }
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
        if (attempt === 1 || attempt % 20 === 0)
          this.alert('storing a grant result failed; retrying', p.id, err);
        await this.clock.sleep(backoffMs(attempt));
      }
    }
  }

  private failedEvent(ctx: Resolution, f: OutcomeFailure, nextAttempt?: number): NewEvent {
    ctx.attempt += 1;
    return newEvent('refresh.failed', this.now(), {
      attempt: ctx.attempt,
      class: f.class,
      code: f.code,
      message: f.message,
      ...statusOf(f),
      ...(nextAttempt !== undefined ? { nextAttemptAt: nextAttempt } : {}),
      trigger: ctx.job.trigger,
      ...(f.outcome !== undefined ? { outcome: f.outcome } : {}),
    });
  }

  /**
   * Records the failure (after any unknown outcomes of this run), or, with `failure` undefined,
   * ends the run on the last unknown outcome already in `ctx.events` with its retry planned.
   */
  private async recordFailure(
    lease: HeldLease,
    p: CredentialProjection,
    ctx: Resolution,
    failure: OutcomeFailure | undefined,
    clearAttempt: boolean,
  ): Promise<RefreshOutcome> {
    const at = this.now();
    const events: NewEvent[] = [...ctx.events];
    let recorded: OutcomeFailure;
    if (failure?.class === 'permanent') {
      events.push(
        this.failedEvent(ctx, failure),
        newEvent('credential.reauth_required', at, { code: failure.code, message: failure.message }),
      );
      recorded = failure;
    } else {
      let last: OutcomeFailure;
      if (failure) last = failure;
      else {
        // The unknown outcome that ends the run is recorded again below, with its retry planned.
        last = lastFailure(events);
        events.pop();
        ctx.attempt -= 1;
      }
      const next = nextAttemptAt(
        {
          now: at,
          attempt: ctx.attempt + 1,
          ...(p.token ? { expiresAt: p.token.expiresAt } : {}),
          ...(last.retryAfterMs !== undefined ? { retryAfterMs: last.retryAfterMs } : {}),
          random: this.random,
        },
        this.options.backoff,
      );
      events.push(this.failedEvent(ctx, last, next));
      if (p.token && p.state === 'active' && at >= p.token.expiresAt) {
        events.push(newEvent('credential.expired', at, { expiredAt: p.token.expiresAt }));
      }
      recorded = last;
    }
    return this.appendAndSchedule(lease, p, events, recorded, clearAttempt);
  }

  /**
   * Appends a failure (or a static token's check). A revision conflict (an edit meanwhile) is
   * rebased: a failure is recorded, never dropped as stale — unless the credential is gone or
   * another worker took the refresh over (whose outcome is then the one recorded).
   */
  private async appendAndSchedule(
    lease: HeldLease,
    p: CredentialProjection,
    events: NewEvent[],
    failure: ClassifiedFailure,
    clearAttempt: boolean,
  ): Promise<RefreshOutcome> {
    let base = p;
    for (let attempt = 1; ; attempt++) {
      try {
        const { projection } = await this.appendFenced(lease, p.id, base, events, { clearAttempt });
        await this.scheduler.schedule(projection);
        return { type: 'failed', failure, projection };
      } catch (err) {
        if (err instanceof FencedError) {
          return { type: 'stale', reason: 'another worker took over the refresh' };
        }
        if (!(err instanceof RevisionConflictError) || attempt >= 5) throw err;
        const moved = (await this.store.get(p.id))?.projection;
        if (!moved || moved.state === 'revoked' || moved.token?.tokenVersion !== p.token?.tokenVersion) {
          return { type: 'stale', reason: 'credential changed during the refresh' };
        }
        base = moved;
      }
    }
  }

  private grantTimeout(p: CredentialProjection): number {
    return Math.min(p.grant.timeoutMs ?? this.options.grantTimeoutMs, this.options.leaseTtlMs - 1000);
  }

  private alert(msg: string, credentialId: string, err?: unknown): void {
    this.options.onAlert?.(msg, {
      credentialId,
      ...(err !== undefined ? { error: err instanceof Error ? err.message : String(err) } : {}),
    });
  }
}

/** A lease this process holds; `released` once an append released it, `lost` once a renewal was refused. */
type HeldLease = Lease & { released: boolean; lost: boolean };

interface RunState {
  /** A request is out, its answer not in yet. */
  sending: boolean;
  /** A successful grant's result is in hand and not stored yet. */
  holdsResult: boolean;
}

interface Unconfirmed {
  /** The events that stored them (failures of the run left out: they are history, not state). */
  events: NewEvent[];
  tokenVersion: number;
  ciphertexts: { token: string; secrets: string };
  storedAt: number;
}

function mustFinish(state: RunState): boolean {
  return state.sending || state.holdsResult;
}

/** What one run learned so far: failures to record before its outcome, and the lost attempt it resolves. */
interface Resolution {
  events: NewEvent[];
  /** Attempt number of the last failure recorded (or about to be). */
  attempt: number;
  job: RefreshJobData;
  lost?: { sentAt: number; worker: string };
  /** The lost attempt came from a record left by another run. */
  fromRecord?: boolean;
  /** A re-presentation of the lost attempt's token whose answer was lost too (from a record). */
  relost?: { sentAt: number; worker: string }[];
}

/**
 * How many lost re-presentations of one refresh token the attempt record carries (and a
 * REFRESH_TOKEN_LOST names): the newest ones, when workers were killed in turn more often. Four
 * keep every name inside a failure message's 512 characters, ahead of the provider's own text.
 */
const MAX_RELOST_NAMED = 4;

/**
 * `, or by its re-presentation at … by worker …` for each re-presentation whose answer was lost
 * too: any of them may be the request the provider answered.
 */
function relostText(ctx: Resolution): string {
  if (!ctx.relost?.length) return '';
  const each = ctx.relost.map((r) => `at ${iso(r.sentAt)} by worker ${r.worker}`);
  return ` or by its re-presentation${each.length > 1 ? 's' : ''} ${each.join(', ')}`;
}

function backoffMs(attempt: number): number {
  return Math.min(5_000, 100 * 2 ** Math.min(attempt - 1, 6));
}

/** Which refresh token a request presents, as a short hash: enough to tell generations apart, never the token. */
function generationOf(secrets: CredentialSecrets): string {
  if (!secrets.refreshToken) return '';
  return createHash('sha256').update(secrets.refreshToken).digest('base64url').slice(0, 12);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function staleReason(p: CredentialProjection, job: RefreshJobData): string | undefined {
  if (!isRefreshing(p.state)) return `credential is ${p.state}`;
  const tokenVersion = p.token?.tokenVersion ?? 0;
  if (tokenVersion !== job.tokenVersion) return `token already at version ${tokenVersion}`;
  if (!job.demand && p.failures !== job.attempt)
    return `attempt ${job.attempt} superseded (failures: ${p.failures})`;
  return undefined;
}

/** The failure a list of events records (its last `refresh.failed`). */
function lastFailure(events: NewEvent[]): OutcomeFailure {
  const failed = events.findLast((e) => e.type === 'refresh.failed');
  if (failed?.type !== 'refresh.failed') throw new Error('no refresh.failed among the events');
  const { class: cls, code, message, status, outcome } = failed.data;
  return {
    class: cls,
    code,
    message,
    ...(status !== undefined ? { status } : {}),
    ...(outcome !== undefined ? { outcome } : {}),
  };
}

function statusOf(f: ClassifiedFailure): { status?: number } {
  return f.status !== undefined ? { status: f.status } : {};
}

function failureOf(err: unknown): OutcomeFailure {
  if (err instanceof GrantError) return classifyGrantFailure(err.failure);
  if (err instanceof GrantConfigurationError)
    return { class: 'permanent', code: err.code, message: err.message };
  // A key missing from this process's ring is a deployment fault, not the credential's: retry, so a
  // correctly configured worker (or this one, fixed) refreshes it. Tampering marks the credential.
  if (err instanceof EncryptionKeyMissingError) {
    return { class: 'transient', code: err.code, message: err.message };
  }
  if (err instanceof SecretDecryptionError) {
    return { class: 'permanent', code: err.code, message: err.message };
  }
  throw err;
}
