import { describe, expect, it } from 'vitest';
import { EncryptionKeyMissingError } from '#common';
import { type NewEvent, newEvent } from '#core';
import { PoolNotFoundError } from '#store';
import { InvalidCredentialInputError, TokenUnavailableError } from './errors.js';
import { PoolService } from './pool-service.js';
import { InMemoryCredentials, plainCipher, RecordingScheduler } from './testing/in-memory-credentials.js';
import { InMemoryPools } from './testing/in-memory-pools.js';
import { ManualClock } from './testing/manual-clock.js';
import { registeredEvent } from './testing/registered-event.js';
import { TokenService } from './token-service.js';

const NS = 'team-a';
const OTHER = 'team-b';
const HOUR = 3_600_000;

type MemberState = 'active' | 'failing' | 'pending' | 'reauth_required' | 'expired' | 'revoked' | 'stale';

function setup() {
  const clock = new ManualClock();
  const store = new InMemoryCredentials(clock);
  const pools = new InMemoryPools();
  const tokenService = new TokenService(store, plainCipher, new RecordingScheduler(), { waitMs: 0, clock });
  /** What the pool asks of the token service; a test may answer for some members itself. */
  const asked: { namespace: string; id: string; minTtl: number }[] = [];
  let answer: ((id: string) => Promise<void> | void) | undefined;
  const tokens = {
    async getToken(namespace: string, id: string, minTtl: number) {
      asked.push({ namespace, id, minTtl });
      await answer?.(id);
      return tokenService.getToken(namespace, id, minTtl);
    },
  };
  const service = new PoolService(pools, store, tokens, () => clock.now());
  let n = 0;
  /** A credential of `namespace` in `state`; every state but pending held a token valid for an hour. */
  const member = async (state: MemberState = 'active', namespace = NS): Promise<string> => {
    n += 1;
    const id = `cred_pool0000000000000${String(n).padStart(2, '0')}`;
    const at = clock.now();
    const events: NewEvent[] = [registeredEvent(`m${n}`, { namespace }, at)];
    if (state !== 'pending') {
      const issuedAt = state === 'stale' ? at - 2 * HOUR : at;
      events.push(
        newEvent('token.updated', at, {
          tokenVersion: 1,
          issuedAt,
          expiresAt: issuedAt + HOUR,
          refreshAt: issuedAt + HOUR / 2,
          tokenType: 'Bearer',
          refreshTokenRotated: false,
          trigger: 'registration',
          lifetimeSource: 'expires_in',
        }),
      );
    }
    const failure = {
      code: 'INVALID_CLIENT',
      message: 'client authentication failed',
      trigger: 'scheduled',
    } as const;
    if (state === 'failing')
      events.push(newEvent('refresh.failed', at, { ...failure, attempt: 1, class: 'transient' }));
    if (state === 'reauth_required')
      events.push(
        newEvent('credential.reauth_required', at, { code: failure.code, message: failure.message }),
      );
    if (state === 'expired') events.push(newEvent('credential.expired', at, { expiredAt: at }));
    if (state === 'revoked') events.push(newEvent('credential.revoked', at, { reason: 'deleted' }));
    await store.append(id, undefined, events, {
      ...(state !== 'pending' ? { token: await plainCipher.encryptToken(id, `at-${id}`) } : {}),
    });
    return id;
  };
  const revoke = async (id: string) => {
    const current = await store.getProjection(id);
    await store.append(id, current, [newEvent('credential.revoked', clock.now(), {})]);
  };
  return {
    clock,
    store,
    pools,
    service,
    member,
    revoke,
    asked,
    answerWith: (fn: typeof answer) => {
      answer = fn;
    },
  };
}

/** What a promise was rejected with. */
async function rejection(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: Error & Record<string, unknown>) => err,
  );
}

/** The stable code an error maps to in a problem response. */
function codeOf(err: Error): string {
  return (err.constructor as { code?: string }).code ?? 'none';
}

/** The members `count` successive pool token requests were served from. */
async function servedFrom(t: ReturnType<typeof setup>, poolId: string, count: number): Promise<string[]> {
  const served: string[] = [];
  for (let i = 0; i < count; i++) served.push((await t.service.token(NS, poolId, 60)).credentialId);
  return served;
}

describe('PoolService.create', () => {
  it('create: stores a pool of the namespace, duplicates dropped, named "pool" unless told, stamped by the clock', async () => {
    const t = setup();
    const [a, b] = [await t.member(), await t.member('reauth_required')];
    const pool = await t.service.create(NS, { members: [a, b, a] });
    expect(pool).toEqual({
      id: expect.stringMatching(/^pool_[A-Za-z0-9_-]{16}$/),
      namespace: NS,
      name: 'pool',
      members: [a, b],
      createdAt: t.clock.now(),
    });
    expect(await t.service.get(NS, pool.id)).toEqual(pool);
    expect((await t.service.create(NS, { name: 'crm', members: [a] })).name).toBe('crm');
  });

  it('create: a member of another namespace is refused exactly like one that does not exist, naming its position', async () => {
    const t = setup();
    const [mine, theirs] = [await t.member(), await t.member('active', OTHER)];
    const foreign = await rejection(t.service.create(NS, { members: [mine, theirs] }));
    const missing = await rejection(t.service.create(NS, { members: [mine, 'cred_doesnotexist0000000'] }));
    expect(foreign).toBeInstanceOf(InvalidCredentialInputError);
    expect(foreign.field).toBe('members.1');
    expect(codeOf(foreign)).toBe('INVALID_CREDENTIAL_INPUT');
    expect(foreign.message).toBe(`no credential ${theirs}`);
    expect(missing.message).toBe('no credential cred_doesnotexist0000000');
    expect(await t.service.list(NS)).toEqual([]);
    expect(await t.service.list(OTHER)).toEqual([]);
  });

  it('create: a deleted (revoked) credential cannot join a pool', async () => {
    const t = setup();
    const gone = await t.member('revoked');
    const err = await rejection(t.service.create(NS, { members: [gone] }));
    expect(err).toBeInstanceOf(InvalidCredentialInputError);
    expect(err.field).toBe('members.0');
  });

  it('create: the refusal names the member where the request has it, duplicates before it counted', async () => {
    const t = setup();
    const mine = await t.member();
    const theirs = await t.member('active', OTHER);
    const err = await rejection(t.service.create(NS, { members: [mine, mine, theirs] }));
    expect(err.field).toBe('members.2');
  });

  it('create: a pool needs at least one member', async () => {
    const t = setup();
    const err = await rejection(t.service.create(NS, { members: [] }));
    expect(err).toBeInstanceOf(InvalidCredentialInputError);
    expect(err.field).toBe('members');
    expect(await t.service.list(NS)).toEqual([]);
  });
});

describe('PoolService: a pool is seen only from its namespace', () => {
  it('visibility: another namespace can neither get, list, delete nor draw a token from a pool', async () => {
    const t = setup();
    const pool = await t.service.create(NS, { members: [await t.member()] });
    for (const attempt of [
      t.service.get(OTHER, pool.id),
      t.service.delete(OTHER, pool.id),
      t.service.token(OTHER, pool.id, 0),
    ]) {
      const err = await rejection(attempt);
      expect(err).toBeInstanceOf(PoolNotFoundError);
      expect(codeOf(err)).toBe('POOL_NOT_FOUND');
    }
    expect(await t.service.list(OTHER)).toEqual([]);
    expect(await t.service.get(NS, pool.id)).toEqual(pool);
    expect(t.asked).toEqual([]);
  });

  it('visibility: list gives the namespace its own pools only, ordered by id', async () => {
    const t = setup();
    const a = await t.member();
    const b = await t.member('active', OTHER);
    const mine = [await t.service.create(NS, { members: [a] }), await t.service.create(NS, { members: [a] })];
    await t.service.create(OTHER, { members: [b] });
    expect((await t.service.list(NS)).map((p) => p.id)).toEqual(mine.map((p) => p.id).sort());
  });

  it('delete: a deleted pool is gone for every operation', async () => {
    const t = setup();
    const pool = await t.service.create(NS, { members: [await t.member()] });
    await t.service.delete(NS, pool.id);
    expect(await t.service.list(NS)).toEqual([]);
    expect(await rejection(t.service.get(NS, pool.id))).toBeInstanceOf(PoolNotFoundError);
    expect(await rejection(t.service.token(NS, pool.id, 0))).toBeInstanceOf(PoolNotFoundError);
    expect(await rejection(t.service.delete(NS, pool.id))).toBeInstanceOf(PoolNotFoundError);
  });

  it('delete: a request that read the pool before the delete does not re-create its cursor (as PoolStore)', async () => {
    const pools = new InMemoryPools();
    await pools.create({ id: 'pool_rr', namespace: NS, name: 'p', members: ['cred_a'], createdAt: 1 });
    expect(await pools.nextIndex('pool_rr')).toBe(1);
    await pools.delete(NS, 'pool_rr');
    expect(await pools.nextIndex('pool_rr')).toBe(0);
    expect(await pools.nextIndex('pool_rr')).toBe(0);
  });

  it('visibility: a member that is not (or no longer) in the namespace is never served, and its name is all that is told', async () => {
    const t = setup();
    const theirs = await t.member('active', OTHER);
    const mine = await t.member();
    // Written past the use case, as an older server or a hand edit might have left it.
    await t.pools.create({ id: 'pool_mixed', namespace: NS, name: 'mixed', members: [theirs], createdAt: 0 });
    const err = await rejection(t.service.token(NS, 'pool_mixed', 0));
    expect(err).toBeInstanceOf(TokenUnavailableError);
    expect(err.message).toBe(`no healthy member in pool pool_mixed: ${theirs} removed`);
    await t.pools.create({
      id: 'pool_both',
      namespace: NS,
      name: 'both',
      members: [theirs, mine],
      createdAt: 0,
    });
    expect(await servedFrom(t, 'pool_both', 3)).toEqual([mine, mine, mine]);
    expect(t.asked.map((a) => a.id)).not.toContain(theirs);
  });
});

describe('PoolService.token', () => {
  it('round-robin: successive requests start at successive members, so healthy members take turns', async () => {
    const t = setup();
    const members = [await t.member(), await t.member(), await t.member()];
    const pool = await t.service.create(NS, { members });
    const served = await servedFrom(t, pool.id, 6);
    expect(new Set(served.slice(0, 3))).toEqual(new Set(members));
    expect(served.slice(3)).toEqual(served.slice(0, 3));
  });

  it('serve: the answer is the member token service answer plus the member id, asked with the namespace and runway', async () => {
    const t = setup();
    const a = await t.member();
    const pool = await t.service.create(NS, { members: [a] });
    const token = await t.service.token(NS, pool.id, 120);
    expect(token).toEqual({
      accessToken: `at-${a}`,
      tokenType: 'Bearer',
      tokenVersion: 1,
      expiresAt: t.clock.now() + HOUR,
      credentialId: a,
    });
    expect(t.asked).toEqual([{ namespace: NS, id: a, minTtl: 120 }]);
  });

  it('skip: members needing re-authentication, expired, deleted, without a token yet or with a lapsed token are passed over', async () => {
    const t = setup();
    const skipped = [
      await t.member('reauth_required'),
      await t.member('expired'),
      await t.member('pending'),
      await t.member('stale'),
    ];
    const deleted = await t.member();
    const healthy = await t.member();
    const pool = await t.service.create(NS, { members: [...skipped, deleted, healthy] });
    await t.revoke(deleted);
    expect(await servedFrom(t, pool.id, 6)).toEqual(Array(6).fill(healthy));
    expect(new Set(t.asked.map((a) => a.id))).toEqual(new Set([healthy]));
  });

  it('skip: a member whose last refresh failed still holds a valid token and is served', async () => {
    const t = setup();
    const failing = await t.member('failing');
    const pool = await t.service.create(NS, { members: [failing] });
    expect((await t.service.token(NS, pool.id, 60)).credentialId).toBe(failing);
  });

  it('none healthy: 503 reason auth when a member needs re-authentication, naming why each member was passed over', async () => {
    const t = setup();
    const reauth = await t.member('reauth_required');
    const expired = await t.member('expired');
    const pending = await t.member('pending');
    const pool = await t.service.create(NS, { members: [reauth, expired, pending] });
    const err = await rejection(t.service.token(NS, pool.id, 60));
    expect(err).toBeInstanceOf(TokenUnavailableError);
    expect(err.reason).toBe('auth');
    expect(codeOf(err)).toBe('TOKEN_UNAVAILABLE');
    expect(err.message).toContain(`no healthy member in pool ${pool.id}: `);
    for (const why of [`${reauth} reauth_required`, `${expired} expired`, `${pending} has no valid token`])
      expect(err.message).toContain(why);
  });

  it('none healthy: reason network when no member needs re-authentication', async () => {
    const t = setup();
    const pool = await t.service.create(NS, {
      members: [await t.member('expired'), await t.member('stale')],
    });
    expect((await rejection(t.service.token(NS, pool.id, 60))).reason).toBe('network');
  });

  it('unavailable: a member whose token cannot be served is passed over with its reason, and the next member serves', async () => {
    const t = setup();
    const [down, up] = [await t.member(), await t.member()];
    const pool = await t.service.create(NS, { members: [down, up] });
    t.answerWith((id) => {
      if (id === down) throw new TokenUnavailableError('auth', 'invalid_client');
    });
    expect(await servedFrom(t, pool.id, 2)).toEqual([up, up]);
    t.answerWith(() => {
      throw new TokenUnavailableError('network', 'upstream down');
    });
    const err = await rejection(t.service.token(NS, pool.id, 60));
    expect(err.reason).toBe('network');
    expect(err.message).toContain(`${down} network: upstream down`);
    expect(err.message).toContain(`${up} network: upstream down`);
  });

  it('unavailable: a member refused for auth makes the whole answer an auth one', async () => {
    const t = setup();
    const [a, b] = [await t.member(), await t.member()];
    const pool = await t.service.create(NS, { members: [a, b] });
    t.answerWith((id) => {
      throw new TokenUnavailableError(id === a ? 'auth' : 'network', 'refused');
    });
    expect((await rejection(t.service.token(NS, pool.id, 60))).reason).toBe('auth');
  });

  it('failure: an error that is not about one member (a missing encryption key) fails the request as it is', async () => {
    const t = setup();
    const pool = await t.service.create(NS, { members: [await t.member(), await t.member()] });
    const missing = new EncryptionKeyMissingError('k1');
    t.answerWith(() => {
      throw missing;
    });
    expect(await rejection(t.service.token(NS, pool.id, 60))).toBe(missing);
    expect(t.asked).toHaveLength(1);
  });

  it('race: a member deleted after the pool was read is passed over as removed, not answered as a missing credential', async () => {
    const t = setup();
    const [doomed, other] = [await t.member(), await t.member()];
    const pool = await t.service.create(NS, { members: [doomed, other] });
    t.answerWith((id) => (id === doomed ? t.revoke(doomed) : undefined));
    expect(await servedFrom(t, pool.id, 2)).toEqual([other, other]);
    t.answerWith(undefined);
    const solo = await t.service.create(NS, { members: [other] });
    t.answerWith((id) => t.revoke(id));
    const err = await rejection(t.service.token(NS, solo.id, 60));
    expect(err).toBeInstanceOf(TokenUnavailableError);
    expect(err.message).toContain(`${other} removed`);
  });
});
