import { describe, expect, it } from 'vitest';
import { type CredentialEvent, DEFAULT_BACKOFF, DEFAULT_REFRESH_POLICY, newEvent } from '#core';
import { TokenUnavailableError } from './errors.js';
import { RefreshService } from './refresh-service.js';
import { plainCipher } from './testing/in-memory-credentials.js';
import { settle } from './testing/manual-clock.js';
import { ID, LEASE_TTL, refreshFixture } from './testing/refresh-fixture.js';
import { TokenService } from './token-service.js';

/** A credential with a 30 s reuse window at a provider that allows 30 s. */
const GRACE_30 = { rotation: { mode: 'grace', graceSeconds: 30 }, providerGraceSeconds: 30 } as const;

const setup = refreshFixture;

function event<T extends CredentialEvent['type']>(events: CredentialEvent[], type: T) {
  return events.find((e): e is Extract<CredentialEvent, { type: T }> => e.type === type);
}

describe('RefreshService: leases and the write-ahead attempt record', () => {
  it('keeps an answer that arrives after the soft timeout, renewing the lease meanwhile, and records its lateness', async () => {
    const t = await setup();
    const started = t.clock.now();
    const { run } = await t.startHeld(t.a);
    // Attempt recorded before the request left; no other worker can present meanwhile.
    expect(t.store.attemptOf(ID)).toMatchObject({ worker: 'host-a:101', sentAt: started, tokenVersion: 0 });
    expect(JSON.stringify(t.store.attemptOf(ID))).not.toContain('rt-0');
    await t.clock.advance(45_000); // past the soft timeout and past the lease TTL
    expect(t.store.leaseOwner(ID)).toBeDefined();
    expect(await t.b.run(t.job)).toMatchObject({ type: 'busy' });
    t.grants.release();
    const out = await run;
    expect(out.type).toBe('refreshed');
    expect(t.provider.presented).toHaveLength(1);
    expect(t.types()).toEqual(['credential.registered', 'token.updated']);
    const updated = event(t.store.events(ID), 'token.updated')!;
    expect(updated.data.lateAnswerMs).toBe(45_000);
    // The token's lifetime counts from when the request was sent (less the second a provider's
    // whole-second iat may be early by).
    expect(updated.data.issuedAt).toBe(started);
    expect(updated.data.expiresAt).toBe(started - 1000 + 300_000);
    expect(t.store.attemptOf(ID)).toBeUndefined();
    expect(await t.storedRefreshToken()).toBe('rt-1');
  });

  it('a stall between the answer and the timers does not cost the answer, even past the lease', async () => {
    const t = await setup();
    t.grants.onAnswer = () => t.clock.jump(LEASE_TTL + 15_000);
    const out = await t.a.run(t.job);
    expect(out.type).toBe('refreshed');
    expect(t.provider.presented).toEqual([{ refreshToken: 'rt-0', accepted: true }]);
    expect(t.types()).toEqual(['credential.registered', 'token.updated']);
    expect(await t.storedRefreshToken()).toBe('rt-1');
  });

  it('a job that finds the lease busy retries at a jittered time, not at the holder’s expiry', async () => {
    const t = await setup();
    const { run } = await t.startHeld(t.a);
    const busy = await t.b.run(t.job);
    expect(busy.type).toBe('busy');
    if (busy.type === 'busy') {
      expect(busy.retryInMs).toBeLessThan(LEASE_TTL);
      expect(busy.retryInMs).toBeGreaterThanOrEqual(100);
    }
    t.grants.release();
    expect((await run).type).toBe('refreshed');
  });

  it('does not send when the lease cannot be confirmed right before the request', async () => {
    const t = await setup();
    const slowCipher = {
      ...plainCipher,
      decryptSecrets: async (id: string, jwe: string | undefined) => {
        // Stalled past the lease between taking it and sending; another worker took it meanwhile.
        t.store.expireLease(ID);
        await t.store.acquireAndRead(ID, LEASE_TTL);
        return plainCipher.decryptSecrets(id, jwe);
      },
    };
    const worker = new RefreshService(t.store, t.store, slowCipher, t.grants, t.scheduler, {
      policy: DEFAULT_REFRESH_POLICY,
      backoff: DEFAULT_BACKOFF,
      grantTimeoutMs: 10_000,
      leaseTtlMs: LEASE_TTL,
      workerId: 'host-c:303',
      clock: t.clock,
    });
    const out = await worker.run(t.job);
    expect(out.type).toBe('busy');
    expect(t.grants.requests).toHaveLength(0);
    expect(t.store.attemptOf(ID)).toBeUndefined();
  });
});

describe('RefreshService: a lapsed lease while its holder is slow', () => {
  it('strict: the second worker finds the attempt record, re-presents once, ends in REFRESH_TOKEN_LOST naming the first; the first cannot persist', async () => {
    const t = await setup();
    const sentAt = t.clock.now();
    const { run: first } = await t.startHeld(t.a);
    t.store.expireLease(ID); // the holder stalled: its heartbeat never ran
    await t.clock.advance(1_000);
    const second = await t.b.run(t.job);
    expect(second).toMatchObject({
      type: 'failed',
      failure: { code: 'REFRESH_TOKEN_LOST', class: 'permanent' },
    });
    if (second.type !== 'failed') throw new Error('unreachable');
    expect(second.failure.message).toContain('host-a:101');
    expect(second.failure.message).toContain(new Date(sentAt).toISOString());
    t.grants.release();
    expect(await first).toMatchObject({ type: 'stale' });
    expect(t.alerts.join()).toContain('did not store its grant result');
    expect(t.types()).toEqual([
      'credential.registered',
      'refresh.failed OUTCOME_UNKNOWN (unknown)',
      'refresh.failed REFRESH_TOKEN_LOST',
      'credential.reauth_required',
    ]);
    const p = (await t.store.get(ID))!.projection;
    expect(p.state).toBe('reauth_required');
    expect(t.provider.presented.map((x) => x.accepted)).toEqual([true, false]);
    expect(t.provider.revoked).toBe(true);
  });

  it('grace: the second worker re-presents inside the window and succeeds; the first one’s late answer is refused', async () => {
    const t = await setup({ rotation: { provider: 'okta' }, providerGraceSeconds: 30 });
    const { run: first } = await t.startHeld(t.a);
    t.store.expireLease(ID);
    await t.clock.advance(5_000);
    const second = await t.b.run(t.job);
    expect(second.type).toBe('refreshed');
    t.grants.release();
    expect(await first).toMatchObject({ type: 'stale' });
    expect(t.types()).toEqual([
      'credential.registered',
      'refresh.failed OUTCOME_UNKNOWN (unknown)',
      'token.updated',
    ]);
    const served = await t.tokens.getToken('default', ID, 0);
    expect(t.provider.valid.has(served.accessToken)).toBe(true);
    expect(t.provider.revoked).toBe(false);
  });

  it('the first one persists when it answers before the second records an attempt: the second ends stale without sending', async () => {
    const t = await setup();
    const { run: first } = await t.startHeld(t.a);
    t.store.expireLease(ID);
    // The second worker takes the lease and reads; the first one's answer lands right then.
    const taken = await t.store.acquireAndRead(ID, LEASE_TTL);
    expect(taken.status).toBe('leased');
    t.grants.release();
    expect((await first).type).toBe('refreshed');
    if (taken.status !== 'leased') throw new Error('unreachable');
    const late = await t.store.recordAttempt(
      taken.lease,
      taken.stored.projection.revision,
      { generation: 'x', tokenVersion: 0, sentAt: t.clock.now(), worker: 'host-b:202' },
      LEASE_TTL,
    );
    expect(late).toBe('moved');
    expect(t.provider.presented).toHaveLength(1);
  });
});

describe('RefreshService: a worker that died with an attempt record', () => {
  it('strict: re-presents once; invalid_grant ends in REFRESH_TOKEN_LOST naming the dead worker', async () => {
    const t = await setup();
    t.grants.plan.push('hang');
    void t.a.run(t.job); // the worker dies with the request in flight
    await settle();
    t.store.expireLease(ID);
    const out = await t.b.run(t.job);
    expect(out).toMatchObject({ type: 'failed', failure: { code: 'REFRESH_TOKEN_LOST' } });
    if (out.type === 'failed') expect(out.failure.message).toContain('host-a:101');
    const failed = t.store.events(ID).filter((e) => e.type === 'refresh.failed');
    expect(failed.map((e) => e.type === 'refresh.failed' && e.data.outcome)).toEqual(['unknown', undefined]);
    await expect(t.tokens.getToken('default', ID, 0)).rejects.toMatchObject({ reason: 'auth' });
  });

  it('strict: a request that never arrived is presented again and succeeds', async () => {
    const t = await setup();
    await t.sendsAndDies(t.a, 'vanish');
    expect((await t.b.run(t.job)).type).toBe('refreshed');
    expect(t.provider.presented).toEqual([{ refreshToken: 'rt-0', accepted: true }]);
    expect(await t.storedRefreshToken()).toBe('rt-1');
  });

  it('grace: re-presents inside the window and succeeds', async () => {
    const t = await setup(GRACE_30);
    await t.sendsAndDies(t.a, 'hang');
    await t.clock.advance(10_000);
    expect((await t.b.run(t.job)).type).toBe('refreshed');
    expect(t.provider.presented.map((x) => x.accepted)).toEqual([true, true]);
    expect(t.provider.revoked).toBe(false);
  });

  it('strict: when a re-presentation was lost too, REFRESH_TOKEN_LOST names both workers', async () => {
    const t = await setup();
    await t.sendsAndDies(t.a, 'hang'); // arrives (the provider rotates); the worker dies
    await t.sendsAndDies(t.b, 'hang'); // its re-presentation arrives too; that worker dies as well
    const out = await t.c.run(t.job);
    expect(out).toMatchObject({ type: 'failed', failure: { code: 'REFRESH_TOKEN_LOST' } });
    if (out.type === 'failed') {
      expect(out.failure.message).toContain('host-a:101');
      expect(out.failure.message).toContain('host-b:202');
    }
    expect(t.store.attemptOf(ID)).toBeUndefined();
  });

  it('strict: when workers are killed in turn, REFRESH_TOKEN_LOST names every one whose request may have been answered', async () => {
    const t = await setup();
    const d = t.worker('host-d:404');
    await t.sendsAndDies(t.a, 'vanish'); // never arrives
    await t.sendsAndDies(t.b, 'hang'); // arrives: the provider rotates; the worker dies
    await t.sendsAndDies(t.c, 'hang'); // the re-presentation arrives (refused) and its worker dies too
    const out = await d.run(t.job);
    expect(out).toMatchObject({ type: 'failed', failure: { code: 'REFRESH_TOKEN_LOST' } });
    if (out.type === 'failed')
      for (const w of ['host-a:101', 'host-b:202', 'host-c:303']) expect(out.failure.message).toContain(w);
    expect(t.store.attemptOf(ID)).toBeUndefined();
  });

  it('grace: a re-presentation lost too is presented again inside the window', async () => {
    const t = await setup(GRACE_30);
    await t.sendsAndDies(t.a, 'hang');
    await t.sendsAndDies(t.b, 'hang');
    await t.clock.advance(5_000);
    expect((await t.c.run(t.job)).type).toBe('refreshed');
    expect(t.provider.revoked).toBe(false);
  });

  it('grace: past the window it resolves as strict', async () => {
    const t = await setup(GRACE_30);
    await t.sendsAndDies(t.a, 'hang');
    await t.clock.advance(60_000);
    const out = await t.b.run(t.job);
    expect(out).toMatchObject({ type: 'failed', failure: { code: 'REFRESH_TOKEN_LOST' } });
    expect(t.provider.presented).toHaveLength(2);
  });
});

describe('RefreshService: an unknown outcome seen by the worker itself', () => {
  it('strict: re-presents once at once; invalid_grant is REFRESH_TOKEN_LOST, never a generic INVALID_GRANT', async () => {
    const t = await setup();
    t.grants.plan.push('lose');
    const out = await t.a.run(t.job);
    expect(out).toMatchObject({ type: 'failed', failure: { code: 'REFRESH_TOKEN_LOST' } });
    expect(t.types()).toEqual([
      'credential.registered',
      'refresh.failed OUTCOME_UNKNOWN (unknown)',
      'refresh.failed REFRESH_TOKEN_LOST',
      'credential.reauth_required',
    ]);
    expect(t.store.attemptOf(ID)).toBeUndefined();
  });

  it('strict: a request lost before it arrived succeeds on the one re-presentation', async () => {
    const t = await setup();
    t.grants.plan.push('drop');
    expect((await t.a.run(t.job)).type).toBe('refreshed');
    expect(t.types()).toEqual([
      'credential.registered',
      'refresh.failed OUTCOME_UNKNOWN (unknown)',
      'token.updated',
    ]);
  });

  it('strict: a second unknown outcome is recorded as such and the record kept for the next attempt', async () => {
    const t = await setup();
    t.grants.plan.push('drop', 'drop');
    const out = await t.a.run(t.job);
    expect(out).toMatchObject({ type: 'failed', failure: { class: 'transient', outcome: 'unknown' } });
    expect(t.store.attemptOf(ID)).toMatchObject({ worker: 'host-a:101' });
    const p = (await t.store.get(ID))!.projection;
    expect(p.lastFailure).toMatchObject({ outcome: 'unknown', code: 'OUTCOME_UNKNOWN' });
    expect(p.lastFailure?.nextAttemptAt).toBeGreaterThan(t.clock.now());
    // The next attempt knows: it re-presents once, and succeeds (nothing ever arrived).
    const next = await t.b.run({ ...t.job, attempt: p.failures });
    expect(next.type).toBe('refreshed');
  });

  it('strict: a re-presentation that meets a 503 keeps the record, so the next attempt still ends in REFRESH_TOKEN_LOST', async () => {
    const t = await setup();
    t.grants.plan.push('lose', 'unavailable');
    const out = await t.a.run(t.job);
    expect(out).toMatchObject({ type: 'failed', failure: { code: 'PROVIDER_UNAVAILABLE' } });
    expect(t.store.attemptOf(ID)).toMatchObject({ lost: { worker: 'host-a:101' } });
    const p = (await t.store.get(ID))!.projection;
    const next = await t.b.run({ ...t.job, attempt: p.failures });
    expect(next).toMatchObject({ type: 'failed', failure: { code: 'REFRESH_TOKEN_LOST' } });
    if (next.type === 'failed') expect(next.failure.message).toContain('host-a:101');
  });

  it('none: an unknown outcome is retried as usual', async () => {
    const t = await setup({ rotation: { mode: 'none' } });
    t.grants.plan.push('drop');
    const out = await t.a.run(t.job);
    expect(out).toMatchObject({ type: 'failed', failure: { class: 'transient', outcome: 'unknown' } });
    expect(t.grants.requests).toHaveLength(1);
    expect(t.store.attemptOf(ID)).toBeUndefined();
  });
});

describe('RefreshService: storing a successful grant', () => {
  it('keeps retrying a refused persist, renewing the lease, and never presents the token again', async () => {
    const t = await setup();
    t.store.failAppends = 15;
    const run = t.a.run(t.job);
    let settled = false;
    void run.then(() => {
      settled = true;
    });
    await t.clock.advance(40_000);
    expect(settled).toBe(false);
    expect(t.a.holdsGrantResults()).toBe(true);
    expect(t.store.leaseOwner(ID)).toBeDefined(); // renewed past its TTL
    await t.clock.advance(60_000);
    const out = await run;
    expect(out.type).toBe('refreshed');
    expect(t.provider.presented).toHaveLength(1);
    expect(t.grants.requests).toHaveLength(1);
    expect(await t.storedRefreshToken()).toBe('rt-1');
    expect(t.alerts.join()).toContain('storing a grant result failed');
  });

  it('takes a lease that lapsed during a long outage back when nobody took over, and stores', async () => {
    const t = await setup({ rotation: { mode: 'none' } });
    t.store.beforeAppend = () => t.store.expireLease(ID);
    const out = await t.a.run(t.job);
    expect(out.type).toBe('refreshed');
    expect(t.grants.requests).toHaveLength(1);
  });

  it('rebases over an edit whose secrets it cannot read, keeping the rotated token', async () => {
    const t = await setup();
    t.store.beforeAppend = async () => {
      const current = (await t.store.get(ID))!.projection;
      await t.store.append(
        ID,
        current,
        [
          newEvent('credential.updated', t.clock.now(), {
            name: 'renamed',
            secretsChanged: ['clientSecret'],
          }),
        ],
        { secrets: 'unreadable' },
      );
    };
    const out = await t.a.run(t.job);
    expect(out.type).toBe('refreshed');
    expect(await t.storedRefreshToken()).toBe('rt-1');
    expect((await t.store.get(ID))!.projection.name).toBe('renamed');
  });

  it('drain waits for a refresh that holds a grant result, past its timeout', async () => {
    const t = await setup();
    t.store.failAppends = 3;
    const run = t.a.run(t.job);
    await settle();
    const drained = t.a.drain(1);
    let done = false;
    void drained.then(() => {
      done = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(done).toBe(false);
    await t.clock.advance(5_000);
    await run;
    await drained;
    expect(done).toBe(true);
  });
});

describe('RefreshService: rotated secrets a Redis restart lost', () => {
  it('reads them back after the durability window and appends them again if Redis came back without them', async () => {
    const t = await setup();
    const crash = t.store.snapshot();
    expect((await t.a.run(t.job)).type).toBe('refreshed');
    expect(t.a.unconfirmedCount()).toBe(1);
    crash(); // the last second of appends was not on disk
    expect(await t.storedRefreshToken()).toBe('rt-0');
    await t.clock.advance(3_000);
    expect(await t.storedRefreshToken()).toBe('rt-1');
    expect((await t.store.get(ID))!.projection).toMatchObject({
      state: 'active',
      token: { tokenVersion: 1 },
    });
    expect(t.a.unconfirmedCount()).toBe(0);
    expect(t.provider.presented).toHaveLength(1);
    expect(t.alerts.join()).toContain('appending them again');
  });

  it('forgets them once seen stored', async () => {
    const t = await setup();
    expect((await t.a.run(t.job)).type).toBe('refreshed');
    await t.clock.advance(3_000);
    expect(t.a.unconfirmedCount()).toBe(0);
    expect(t.types()).toEqual(['credential.registered', 'token.updated']);
  });
});

describe('RefreshService: failures', () => {
  it('a permanent failure meeting a revision conflict is rebased and recorded, not dropped as stale', async () => {
    const t = await setup();
    t.provider.revoked = true;
    t.store.beforeAppend = async () => {
      const current = (await t.store.get(ID))!.projection;
      await t.store.append(ID, current, [
        newEvent('credential.updated', t.clock.now(), { name: 'renamed', secretsChanged: [] }),
      ]);
    };
    const out = await t.a.run(t.job);
    expect(out).toMatchObject({ type: 'failed', failure: { code: 'INVALID_GRANT' } });
    const p = (await t.store.get(ID))!.projection;
    expect(p).toMatchObject({ state: 'reauth_required', name: 'renamed' });
    expect(t.types()).toEqual([
      'credential.registered',
      'credential.updated',
      'refresh.failed INVALID_GRANT',
      'credential.reauth_required',
    ]);
  });
});

describe('TokenService after a lost refresh token', () => {
  it('never serves the cached token of a grant the provider revoked', async () => {
    const t = await setup();
    expect((await t.a.run(t.job)).type).toBe('refreshed');
    const p = (await t.store.get(ID))!.projection;
    t.grants.plan.push('lose');
    await t.clock.advance(250_000);
    const out = await t.a.run({ ...t.job, tokenVersion: 1, trigger: 'scheduled' });
    expect(out).toMatchObject({ type: 'failed', failure: { code: 'REFRESH_TOKEN_LOST' } });
    // The cached access token has time left, but its grant is dead.
    expect(p.token!.expiresAt).toBeGreaterThan(t.clock.now());
    const err = await t.tokens.getToken('default', ID, 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenUnavailableError);
    expect(err).toMatchObject({ reason: 'auth' });
    await expect(t.tokens.invalidate('default', ID, 1)).rejects.toMatchObject({ reason: 'auth' });
  });

  it('the fallback after a failed refresh serves a cached token only with the minimum lifetime left', async () => {
    const t = await setup({ rotation: { mode: 'none' } });
    expect((await t.a.run(t.job)).type).toBe('refreshed');
    await t.clock.advance(297_000); // 3 s left
    t.grants.plan.push('drop');
    t.scheduler.onDemand = (p) =>
      t.a.run({ ...t.job, tokenVersion: 1, attempt: p.failures, demand: true, trigger: 'on_demand' });
    const err = await t.tokens.getToken('default', ID, 60).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenUnavailableError);
  });

  it('a read the read-refresh gate holds back is not served a token about to expire: it refreshes', async () => {
    const t = await setup({ rotation: { mode: 'none' } });
    expect((await t.a.run(t.job)).type).toBe('refreshed');
    // Another read refreshed this credential within the interval: the gate says no.
    const gated = new TokenService(t.store, plainCipher, t.scheduler, {
      waitMs: 100,
      now: () => t.clock.now(),
      readRefreshGate: { tryAcquire: async () => false },
    });
    await t.clock.advance(297_000); // 3 s left: below the minimum lifetime a cached token is served with
    t.scheduler.onDemand = (p) =>
      t.a.run({ ...t.job, tokenVersion: 1, attempt: p.failures, demand: true, trigger: 'on_demand' });
    const served = await gated.getToken('default', ID, 60);
    expect(served.tokenVersion).toBe(2);
    expect(served.warning).toBeUndefined();
  });

  it('counts a token’s expiry a second before its request left, never past the provider’s whole-second iat', async () => {
    const t = await setup({ rotation: { mode: 'none' } });
    await t.clock.advance(1_750);
    const sentAt = t.clock.now();
    expect((await t.a.run(t.job)).type).toBe('refreshed');
    const token = (await t.store.get(ID))!.projection.token!;
    // The provider's iat is at least floor(sentAt) in seconds: its expiry at least that + 300 s.
    expect(token.expiresAt).toBeLessThanOrEqual(Math.floor(sentAt / 1000) * 1000 + 300_000);
    expect(token.expiresAt).toBe(sentAt - 1000 + 300_000);
  });
});
