import { describe, expect, it } from 'vitest';
import { EncryptionKeyMissingError } from '#common';
import { newEvent } from '#core';
import { TokenUnavailableError } from './errors.js';
import type { RefreshOutcome } from './refresh-service.js';
import { plainCipher } from './testing/in-memory-credentials.js';
import { ID, refreshFixture } from './testing/refresh-fixture.js';

type Fixture = Awaited<ReturnType<typeof refreshFixture>>;

/** Demanded refreshes run on worker `a` as a queue worker would pick them up; their outcomes are kept. */
function runDemands(t: Fixture): RefreshOutcome[] {
  const outcomes: RefreshOutcome[] = [];
  t.scheduler.onDemand = async (p) => {
    outcomes.push(
      await t.a.run({
        ...t.job,
        tokenVersion: p.token?.tokenVersion ?? 0,
        attempt: p.failures,
        demand: true,
        trigger: 'on_demand',
      }),
    );
  };
  return outcomes;
}

/** A first refresh: token version 1, issued now, expiring in 299 s, due for refresh at about 194 s. */
async function withToken(t: Fixture): Promise<void> {
  expect((await t.a.run(t.job)).type).toBe('refreshed');
}

/** Lets `read` run while the frozen clock moves `ms` forward in steps. */
async function drive<T>(t: Fixture, read: Promise<T>, ms = 1_000): Promise<T> {
  await t.clock.advance(ms);
  return read;
}

describe('TokenService: paths of a read', () => {
  it('fresh: a token with the runway asked for is served from the store without a refresh', async () => {
    const t = await refreshFixture({ rotation: { mode: 'none' } });
    await withToken(t);
    const tokens = t.clockedTokens();
    await t.clock.advance(200_000); // 99 s left
    const served = await tokens.getToken('default', ID, 60);
    expect(served).toMatchObject({ accessToken: 'at-1', tokenVersion: 1 });
    expect(t.scheduler.demanded).toEqual([]);
  });

  it('stale: a token with less runway than minTtl demands a refresh and waits for the new version', async () => {
    const t = await refreshFixture({ rotation: { mode: 'none' } });
    await withToken(t);
    const outcomes = runDemands(t);
    const tokens = t.clockedTokens();
    await t.clock.advance(250_000); // 49 s left, 60 s asked for
    const served = await drive(t, tokens.getToken('default', ID, 60));
    expect(served).toMatchObject({ accessToken: 'at-2', tokenVersion: 2 });
    expect(served.warning).toBeUndefined();
    expect(t.scheduler.demanded.map((d) => d.trigger)).toEqual(['on_demand']);
    expect(outcomes.map((o) => o.type)).toEqual(['refreshed']);
  });

  it('stale: the demanded job finds the token refreshed meanwhile, ends stale, and the read gets the newer token', async () => {
    const t = await refreshFixture({ rotation: { mode: 'none' } });
    await withToken(t);
    const tokens = t.clockedTokens();
    await t.clock.advance(250_000);
    const outcomes: RefreshOutcome[] = [];
    t.scheduler.onDemand = async (p) => {
      // The scheduled refresh (worker b) gets there first.
      await t.b.run({ ...t.job, tokenVersion: 1, trigger: 'scheduled' });
      outcomes.push(await t.a.run({ ...t.job, tokenVersion: p.token!.tokenVersion, demand: true }));
    };
    const served = await drive(t, tokens.getToken('default', ID, 60));
    expect(served.tokenVersion).toBe(2);
    expect(outcomes).toEqual([{ type: 'stale', reason: 'token already at version 2' }]);
    expect(t.grants.requests).toHaveLength(2);
  });

  it('stale, nobody refreshes: after waitMs the cached token is served with a warning', async () => {
    const t = await refreshFixture({ rotation: { mode: 'none' } });
    await withToken(t);
    const tokens = t.clockedTokens({ waitMs: 2_000 });
    await t.clock.advance(250_000);
    const served = await drive(t, tokens.getToken('default', ID, 60), 3_000);
    expect(served.tokenVersion).toBe(1);
    expect(served.warning).toMatch(/^refresh failed \(TIMEOUT\); serving the cached token, 4[0-9] s left$/);
  });

  it('stale, no token yet: a pending credential whose refresh does not complete in time is unavailable, retry in 1 s', async () => {
    const t = await refreshFixture();
    const tokens = t.clockedTokens({ waitMs: 2_000 });
    const err = await drive(
      t,
      tokens.getToken('default', ID, 0).catch((e: unknown) => e),
      3_000,
    );
    expect(err).toBeInstanceOf(TokenUnavailableError);
    expect(err).toMatchObject({ reason: 'pending', retryAfterSeconds: 1 });
  });

  it('busy: a read that meets a refresh in progress (lease held) waits for it instead of sending another', async () => {
    const t = await refreshFixture();
    t.grants.plan.push('hold');
    const first = t.b.run(t.job); // holds the lease, its answer held back
    await t.clock.advance(10);
    const outcomes = runDemands(t);
    const tokens = t.clockedTokens();
    const read = tokens.getToken('default', ID, 0);
    await t.clock.advance(500);
    expect(outcomes).toMatchObject([{ type: 'busy' }]);
    t.grants.release();
    const served = await drive(t, read);
    expect(served).toMatchObject({ accessToken: 'at-1', tokenVersion: 1 });
    expect((await first).type).toBe('refreshed');
    expect(t.provider.presented).toEqual([{ refreshToken: 'rt-0', accepted: true }]);
  });

  it('rebase: a rename landing while the demanded refresh persists is kept, and the read gets the new token', async () => {
    const t = await refreshFixture();
    await withToken(t);
    const outcomes = runDemands(t);
    t.store.beforeAppend = async () => {
      const current = (await t.store.get(ID))!.projection;
      await t.store.append(ID, current, [
        newEvent('credential.updated', t.clock.now(), { name: 'renamed', secretsChanged: [] }),
      ]);
    };
    const tokens = t.clockedTokens();
    await t.clock.advance(250_000);
    const served = await drive(t, tokens.getToken('default', ID, 60));
    expect(served.tokenVersion).toBe(2);
    expect(outcomes.map((o) => o.type)).toEqual(['refreshed']);
    const stored = (await t.store.get(ID))!;
    expect(stored.projection.name).toBe('renamed');
    expect(await t.storedRefreshToken()).toBe('rt-2');
    expect(t.store.events(ID).map((e) => e.type)).toEqual([
      'credential.registered',
      'token.updated',
      'credential.updated',
      'token.updated',
    ]);
  });

  it('persist-retry: appends that fail transiently are retried until the token is stored; the read gets it', async () => {
    const t = await refreshFixture();
    const outcomes = runDemands(t);
    t.store.failAppends = 3;
    const tokens = t.clockedTokens({ waitMs: 30_000 });
    const served = await drive(t, tokens.getToken('default', ID, 0), 20_000);
    expect(served).toMatchObject({ accessToken: 'at-1', tokenVersion: 1 });
    expect(outcomes.map((o) => o.type)).toEqual(['refreshed']);
    expect(t.provider.presented).toHaveLength(1);
    expect(t.alerts).toContain('storing a grant result failed; retrying');
  });

  it('key-missing: secrets under a key this process lacks fail the refresh as transient; the cached token is served with a warning', async () => {
    let keyMissing = false;
    const cipher = {
      ...plainCipher,
      decryptSecrets: async (id: string, jwe: string | undefined) => {
        if (keyMissing) throw new EncryptionKeyMissingError('encryption key "k-old" is not configured');
        return plainCipher.decryptSecrets(id, jwe);
      },
    };
    const t = await refreshFixture({ rotation: { mode: 'none' }, cipher });
    await withToken(t);
    keyMissing = true;
    const outcomes = runDemands(t);
    const tokens = t.clockedTokens();
    await t.clock.advance(250_000);
    const served = await drive(t, tokens.getToken('default', ID, 60));
    expect(served.tokenVersion).toBe(1);
    expect(served.warning).toMatch(/^refresh failed \(ENCRYPTION_KEY_MISSING\); serving the cached token/);
    expect(outcomes).toMatchObject([
      { type: 'failed', failure: { class: 'transient', code: 'ENCRYPTION_KEY_MISSING' } },
    ]);
    // A deployment fault, not the credential's: it stays refreshing, with a retry planned, nothing sent.
    const p = (await t.store.get(ID))!.projection;
    expect(p.state).toBe('active');
    expect(p.failures).toBe(1);
    expect(p.lastFailure).toMatchObject({
      code: 'ENCRYPTION_KEY_MISSING',
      nextAttemptAt: expect.any(Number),
    });
    expect(t.grants.requests).toHaveLength(1);
  });

  it('key-missing, no token yet: the read is refused as a network problem with the planned retry', async () => {
    const t = await refreshFixture({
      cipher: {
        ...plainCipher,
        decryptSecrets: async () => {
          throw new EncryptionKeyMissingError('encryption key "k-old" is not configured');
        },
      },
    });
    runDemands(t);
    const err = await drive(
      t,
      t
        .clockedTokens()
        .getToken('default', ID, 0)
        .catch((e: unknown) => e),
    );
    expect(err).toBeInstanceOf(TokenUnavailableError);
    expect(err).toMatchObject({ reason: 'network' });
    expect((err as TokenUnavailableError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect((err as Error).message).toContain('encryption key "k-old" is not configured');
  });
});

describe('TokenService: the read-refresh gate', () => {
  /** A gate that answers from a script and records what it was asked. */
  function gate(answers: boolean[]) {
    const asked: number[] = [];
    return {
      asked,
      tryAcquire: async (_id: string, version: number) => {
        asked.push(version);
        return answers.shift() ?? false;
      },
    };
  }

  it('gate: the first read below its runway refreshes; the next, turned away, gets the cached token with a warning', async () => {
    const t = await refreshFixture({ rotation: { mode: 'none' } });
    await withToken(t);
    const g = gate([true, false]);
    const tokens = t.clockedTokens({ readRefreshGate: g });
    await t.clock.advance(170_000); // 129 s left, not yet due; 149.5 s (half the lifetime) asked for at most
    const outcomes = runDemands(t);
    t.grants.plan.push('unavailable'); // the refresh the first read triggers fails: the token stays at version 1
    const first = await drive(t, tokens.getToken('default', ID, 600));
    expect(first.warning).toMatch(/^refresh failed/);
    const second = await tokens.getToken('default', ID, 600);
    expect(second).toMatchObject({ tokenVersion: 1, accessToken: 'at-1' });
    expect(second.warning).toMatch(
      /^a read refreshed this credential recently; serving the cached token, 12[0-9] s left$/,
    );
    expect(g.asked).toEqual([1, 1]);
    expect(outcomes).toHaveLength(1);
  });

  it('gate: a token due for its refresh is refreshed whatever the gate says, without asking it', async () => {
    const t = await refreshFixture({ rotation: { mode: 'none' } });
    await withToken(t);
    const g = gate([]);
    runDemands(t);
    const tokens = t.clockedTokens({ readRefreshGate: g });
    await t.clock.advance(200_000); // past refreshAt (about 194 s), 99 s left
    const served = await drive(t, tokens.getToken('default', ID, 120));
    expect(served).toMatchObject({ tokenVersion: 2 });
    expect(served.warning).toBeUndefined();
    expect(g.asked).toEqual([]);
  });

  it('gate: a read with the runway it asks for never consults the gate', async () => {
    const t = await refreshFixture({ rotation: { mode: 'none' } });
    await withToken(t);
    const g = gate([]);
    const tokens = t.clockedTokens({ readRefreshGate: g });
    expect((await tokens.getToken('default', ID, 60)).tokenVersion).toBe(1);
    expect(g.asked).toEqual([]);
  });
});
