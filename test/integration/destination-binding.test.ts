import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyRing } from '#common';
import { type CredentialProjection } from '#core';
import {
  CredentialCipher,
  describeDestination,
  InvalidCredentialInputError,
  ReEncryption,
  TokenSourceForbiddenError,
} from '#refresh';
import { TEST_ENCRYPTION_KEYS } from '../support/processes.js';
import { errorOf, startUseCaseHarness, type UseCaseHarness } from '../support/use-case-harness.js';

/**
 * Secrets bound to their destination, through the real use cases on a real Redis: what
 * registration and PATCH store, what a refresh refuses before sending anything.
 */
describe('secrets bound to their destination', () => {
  let h: UseCaseHarness;
  let conn: UseCaseHarness['conn'];
  let keys: UseCaseHarness['keys'];
  let store: UseCaseHarness['store'];
  let cipher: UseCaseHarness['cipher'];
  let credentials: UseCaseHarness['credentials'];
  let grants: UseCaseHarness['grants'];

  beforeAll(async () => {
    h = await startUseCaseHarness('binding', { rotates: true });
    ({ conn, keys, store, cipher, credentials, grants } = h);
  });

  afterAll(() => h?.close());

  const run = (id: string) => h.run(id);
  const storedSecrets = (id: string) => h.storedSecrets(id);
  const refreshTokenCredential = () =>
    credentials.register({
      namespace: 'default',
      kind: 'oauth2.refresh_token',
      tokenEndpoint: 'https://as.example/token',
      clientId: 'app',
      refreshToken: 'rt-0',
      clientSecret: 'cs',
    });

  it('registration binds the secrets, and every kind gets a ciphertext (static included)', async () => {
    const p = await refreshTokenCredential();
    expect(await storedSecrets(p.id)).toEqual({
      refreshToken: 'rt-0',
      clientSecret: 'cs',
      destination: describeDestination(p.kind, p.grant),
    });
    const s = await credentials.register({
      namespace: 'default',
      kind: 'static',
      accessToken: 'x',
      expiresIn: 600,
    });
    expect((await storedSecrets(s.id)).destination).toBe(describeDestination('static', s.grant));
  });

  it('a PATCH moving a credential needs its secrets again; with them the new binding is stored', async () => {
    const p = await refreshTokenCredential();
    const err = await errorOf(
      credentials.update('default', p.id, { tokenEndpoint: 'https://attacker.example/token' }),
    );
    expect(err).toBeInstanceOf(InvalidCredentialInputError);
    expect((err as InvalidCredentialInputError).message).toBe(
      "tokenEndpoint changes where this credential's secrets are sent: supply refreshToken and clientSecret again",
    );
    // One of two is not enough.
    const partial = await errorOf(
      credentials.update('default', p.id, { clientId: 'other', refreshToken: 'mine' }),
    );
    expect((partial as InvalidCredentialInputError).field).toBe('clientSecret');
    expect((await store.getProjection(p.id))!.grant.tokenEndpoint).toBe('https://as.example/token');
    // Settings that do not move the secrets need nothing.
    await credentials.update('default', p.id, { scope: 'read', timeoutSeconds: 10 });

    const moved = await credentials.update('default', p.id, {
      tokenEndpoint: 'https://as2.example/token',
      refreshToken: 'rt-new',
      clientSecret: 'cs-new',
    });
    expect(await storedSecrets(p.id)).toEqual({
      refreshToken: 'rt-new',
      clientSecret: 'cs-new',
      destination: describeDestination(moved.kind, moved.grant),
    });
    expect(await run(p.id)).toMatchObject({ type: 'refreshed' });
    expect(grants.requests.at(-1)!.grant.tokenEndpoint).toBe('https://as2.example/token');
  });

  it('a refresh whose settings were changed in Redis stops before sending anything', async () => {
    const p = await refreshTokenCredential();
    expect(await run(p.id)).toMatchObject({ type: 'refreshed' });
    // The rotated refresh token was stored with the binding.
    expect(await storedSecrets(p.id)).toMatchObject({
      refreshToken: `rt-${grants.requests.length}`,
      destination: describeDestination(p.kind, p.grant),
    });
    const key = keys.credential(p.id);
    const projection = JSON.parse((await conn.hget(key, 'p'))!) as CredentialProjection;
    projection.grant.tokenEndpoint = 'https://attacker.example/token';
    await conn.hset(key, 'p', JSON.stringify(projection));
    const sent = grants.requests.length;
    const outcome = await run(p.id);
    expect(outcome).toMatchObject({
      type: 'failed',
      failure: { class: 'permanent', code: 'DESTINATION_MISMATCH' },
    });
    expect(grants.requests.length).toBe(sent);
    const after = (await store.getProjection(p.id))!;
    expect(after.state).toBe('reauth_required');
    expect(after.lastFailure?.message).toContain('tokenEndpoint');
    expect(after.lastFailure?.message).toContain('re-supply the secrets');
    // Re-binding it by PATCH (even of one secret) needs every secret again.
    const err = await errorOf(credentials.update('default', p.id, { clientSecret: 'attacker' }));
    expect((err as InvalidCredentialInputError).field).toBe('refreshToken');
  });

  it('a deleted ciphertext is not taken for a legacy one', async () => {
    const source = await refreshTokenCredential();
    const p = await credentials.register({
      namespace: 'default',
      kind: 'oauth2.token_exchange',
      tokenEndpoint: 'https://as.example/token',
      subjectCredentialId: source.id,
      canReadTokens: true,
    });
    await conn.hdel(keys.credential(p.id), 's');
    const sent = grants.requests.length;
    expect(await run(p.id)).toMatchObject({ failure: { code: 'DESTINATION_MISMATCH' } });
    expect(grants.requests.length).toBe(sent);
  });

  it('legacy ciphertexts (no binding) are trusted once and bound on that refresh', async () => {
    for (const kind of ['oauth2.refresh_token', 'oauth2.client_credentials'] as const) {
      const p = await credentials.register({
        namespace: 'default',
        kind,
        tokenEndpoint: 'https://as.example/token',
        clientId: 'app',
        clientSecret: 'cs',
        ...(kind === 'oauth2.refresh_token' ? { refreshToken: 'rt-0' } : {}),
      });
      // What a release before destination binding stored.
      const { destination: _d, ...legacy } = await storedSecrets(p.id);
      await conn.hset(keys.credential(p.id), 's', await cipher.encryptSecrets(p.id, legacy));
      expect(await run(p.id)).toMatchObject({ type: 'refreshed' });
      expect((await storedSecrets(p.id)).destination).toBe(describeDestination(kind, p.grant));
      expect(await storedSecrets(p.id)).toMatchObject({ clientSecret: 'cs' });
    }
  });

  it('re-encryption to a new key keeps the binding', async () => {
    const p = await refreshTokenCredential();
    const before = await storedSecrets(p.id);
    const ring = KeyRing.parse(`test2:${Buffer.alloc(32, 9).toString('base64url')},${TEST_ENCRYPTION_KEYS}`);
    await new ReEncryption(store, ring).run();
    const s = await conn.hget(keys.credential(p.id), 's');
    expect(KeyRing.keyIdOf(s!)).toBe('test2');
    expect(await new CredentialCipher(ring).decryptSecrets(p.id, s!)).toEqual(before);
    expect(before.destination).toBe(describeDestination(p.kind, p.grant));
  });

  it('naming another credential as a token source needs token:read', async () => {
    const source = await refreshTokenCredential();
    const input = {
      namespace: 'default',
      kind: 'oauth2.token_exchange' as const,
      tokenEndpoint: 'https://as.example/token',
      subjectCredentialId: source.id,
    };
    const err = await errorOf(credentials.register(input));
    expect(err).toBeInstanceOf(TokenSourceForbiddenError);
    expect((err as TokenSourceForbiddenError).field).toBe('subjectCredentialId');
    const p = await credentials.register({ ...input, canReadTokens: true });
    // Sending that token somewhere else needs it too, even with no secrets of its own.
    const moved = await errorOf(
      credentials.update('default', p.id, { tokenEndpoint: 'https://attacker.example/token' }),
    );
    expect(moved).toBeInstanceOf(TokenSourceForbiddenError);
    // Changes that send it nowhere new do not.
    await credentials.update('default', p.id, { scope: 'x' });
    const vault = await errorOf(
      credentials.register({
        namespace: 'default',
        kind: 'vault.jwt_login',
        vaultAddr: 'https://vault.example',
        role: 'r',
        jwtCredentialId: source.id,
      }),
    );
    expect((vault as TokenSourceForbiddenError).field).toBe('jwtCredentialId');
  });

  it('kinds without secrets change their targets freely; the new binding is stored', async () => {
    const source = await refreshTokenCredential();
    const p = await credentials.register({
      namespace: 'default',
      kind: 'oauth2.token_exchange',
      tokenEndpoint: 'https://as.example/token',
      subjectCredentialId: source.id,
      canReadTokens: true,
    });
    const moved = await credentials.update('default', p.id, {
      tokenEndpoint: 'https://as2.example/token',
      canReadTokens: true,
    });
    expect((await storedSecrets(p.id)).destination).toBe(describeDestination(moved.kind, moved.grant));
    // A ciphertext deleted or replaced in Redis proves nothing: any change then counts as a move.
    await conn.hdel(keys.credential(p.id), 's');
    const err = await errorOf(credentials.update('default', p.id, { clientSecret: 'attacker' }));
    expect(err).toBeInstanceOf(TokenSourceForbiddenError);
  });
});
