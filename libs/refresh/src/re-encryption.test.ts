import { describe, expect, it } from 'vitest';
import { ConfigError, KeyRing } from '#common';
import { CredentialCipher } from './credential-secrets.js';
import { ReEncryption } from './re-encryption.js';
import { InMemoryCredentials } from './testing/in-memory-credentials.js';
import { InMemoryLeaderLock } from './testing/in-memory-jobs.js';
import { ManualClock } from './testing/manual-clock.js';
import { registeredEvent } from './testing/registered-event.js';

const key = (kid: string, fill: number) => `${kid}:${Buffer.alloc(32, fill).toString('base64url')}`;
const OLD = KeyRing.parse(key('old', 1));
const ROTATED = KeyRing.parse(`${key('new', 2)},${key('old', 1)}`);

async function setup(count: number) {
  const clock = new ManualClock();
  const store = new InMemoryCredentials(clock);
  const locks = new InMemoryLeaderLock(clock);
  const cipher = new CredentialCipher(OLD);
  for (let i = 0; i < count; i++) {
    const id = `cred_${i}`;
    await store.append(id, undefined, [registeredEvent(id, {}, clock.now())], {
      secrets: await cipher.encryptSecrets(id, { clientSecret: `cs-${i}` }),
      token: await cipher.encryptToken(id, `at-${i}`),
    });
  }
  return { clock, store, locks };
}

describe('ReEncryption on in-memory ports', () => {
  it('re-encryption: moves every ciphertext to the primary key, keeps the plaintexts and stores its status', async () => {
    const t = await setup(3);
    const pass = new ReEncryption(t.store, ROTATED, t.locks);
    expect(await pass.census()).toEqual({ old: 6 });
    const status = await pass.runIfLeader({ pageSize: 2 });
    expect(status).toMatchObject({ state: 'done', scanned: 3, rewritten: 6, conflicts: 0, failed: 0 });
    expect(status?.keyIds).toEqual({ new: 6 });
    expect(await pass.status()).toEqual(status);
    const stored = await t.store.get('cred_1');
    expect(await new CredentialCipher(ROTATED).decryptToken('cred_1', stored!.token!)).toBe('at-1');
    expect(t.locks.holder('reencrypt:lock')).toBeUndefined();
  });

  it('re-encryption: a pass runs on one process at a time, through the leader lock', async () => {
    const t = await setup(1);
    const held = await t.locks.acquire('reencrypt:lock', 60_000);
    expect(held).toBeDefined();
    expect(await new ReEncryption(t.store, ROTATED, t.locks).runIfLeader()).toBeUndefined();
    expect(await new ReEncryption(t.store, ROTATED).census()).toEqual({ old: 2 });
  });

  it('re-encryption: a ciphertext a refresh replaced meanwhile is left to the refresh (a conflict)', async () => {
    const t = await setup(1);
    const replace = t.store.replaceFieldIf.bind(t.store);
    t.store.replaceFieldIf = async (k, field, expected, next) =>
      field === 't' ? false : replace(k, field, expected, next);
    const status = await new ReEncryption(t.store, ROTATED, t.locks).run();
    expect(status).toMatchObject({ rewritten: 1, conflicts: 1 });
  });

  it('key-missing: refuses to start while ciphertexts need a key the ring no longer has', async () => {
    const t = await setup(1);
    const without = new ReEncryption(t.store, KeyRing.parse(key('new', 2)));
    await expect(without.assertKeysAvailable()).rejects.toBeInstanceOf(ConfigError);
    await expect(without.assertKeysAvailable()).rejects.toThrow('"old" (2 ciphertexts)');
    await new ReEncryption(t.store, ROTATED).run();
    await expect(without.assertKeysAvailable()).resolves.toBeUndefined();
  });
});
