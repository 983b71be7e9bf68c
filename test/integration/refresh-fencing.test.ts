import { describe, expect, it } from 'vitest';
import { newEvent } from '#core';
import { FencedError } from '#store';
import { registeredEvent } from '../../libs/refresh/src/testing/registered-event.js';
import { useStoreFixture } from '../support/store-fixture.js';

const registered = (name: string) =>
  registeredEvent(name, {
    namespace: 'ns-a',
    kind: 'oauth2.refresh_token',
    grant: { tokenEndpoint: 'https://idp.example/token', clientAuth: 'none' },
  });
const rename = (name: string) => [newEvent('credential.updated', Date.now(), { name, secretsChanged: [] })];
const record = (worker: string) => ({ generation: 'g1', tokenVersion: 0, sentAt: Date.now(), worker });

/** The write-ahead attempt record and the owner fence of a refresh's append, on a real Redis. */
describe('attempt record and fenced appends', () => {
  const db = useStoreFixture('fence', { partitions: 2 });

  it('a holder whose lease lapsed persists until another worker records an attempt, then is fenced out', async () => {
    const id = 'cred_fence0000000000000001';
    const { projection } = await db.store.append(id, undefined, [registered(id)]);
    const a = await db.leases.acquireAndRead(id, 5_000);
    if (a.status !== 'leased') throw new Error(a.status);
    expect(await db.leases.recordAttempt(a.lease, projection.revision, record('host-a:1'), 5_000)).toBe(
      'recorded',
    );
    await db.redis.del(db.keys.lease(id)); // lapsed
    const b = await db.leases.acquireAndRead(id, 5_000);
    if (b.status !== 'leased') throw new Error(b.status);
    expect(b.stored.attempt).toMatchObject({ worker: 'host-a:1', generation: 'g1' });
    expect(await db.leases.recordAttempt(b.lease, projection.revision, record('host-b:2'), 5_000)).toBe(
      'recorded',
    );
    await expect(
      db.store.append(id, projection, rename('late'), {
        fence: { owner: a.lease.owner, clearAttempt: true },
      }),
    ).rejects.toBeInstanceOf(FencedError);
    const done = await db.store.append(id, projection, rename('b'), {
      fence: { owner: b.lease.owner, clearAttempt: true },
      releaseLease: { owner: b.lease.owner },
    });
    expect(done.projection.name).toBe('b');
    expect(await db.redis.hmget(db.keys.credential(id), 'a', 'ao')).toEqual([null, null]);
    expect(await db.redis.exists(db.keys.lease(id))).toBe(0);
  });

  it('the lapsed holder’s append wins if it lands first; the next attempt record is then refused', async () => {
    const id = 'cred_fence0000000000000002';
    const { projection } = await db.store.append(id, undefined, [registered(id)]);
    const a = await db.leases.acquireAndRead(id, 5_000);
    if (a.status !== 'leased') throw new Error(a.status);
    await db.leases.recordAttempt(a.lease, projection.revision, record('host-a:1'), 5_000);
    await db.redis.del(db.keys.lease(id));
    const b = await db.leases.acquireAndRead(id, 5_000);
    if (b.status !== 'leased') throw new Error(b.status);
    await db.store.append(id, projection, rename('a'), {
      fence: { owner: a.lease.owner, clearAttempt: true },
    });
    expect(await db.leases.recordAttempt(b.lease, projection.revision, record('host-b:2'), 5_000)).toBe(
      'moved',
    );
  });

  it('without an attempt record the fence is the lease; a record is refused to a non-owner', async () => {
    const id = 'cred_fence0000000000000003';
    const { projection } = await db.store.append(id, undefined, [registered(id)]);
    await expect(
      db.store.append(id, projection, rename('x'), { fence: { owner: 'nobody', clearAttempt: true } }),
    ).rejects.toBeInstanceOf(FencedError);
    expect(
      await db.leases.recordAttempt(
        { credentialId: id, owner: 'nobody' },
        projection.revision,
        record('x'),
        5_000,
      ),
    ).toBe('lease_lost');
    const a = await db.leases.acquireAndRead(id, 5_000);
    if (a.status !== 'leased') throw new Error(a.status);
    const kept = await db.store.append(id, projection, rename('y'), {
      fence: { owner: a.lease.owner, clearAttempt: false },
    });
    expect(kept.projection.name).toBe('y');
    // Edits that are not a refresh's are never fenced.
    expect((await db.store.append(id, kept.projection, rename('z'))).projection.name).toBe('z');
  });
});
