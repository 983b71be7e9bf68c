import { describe, expect, it } from 'vitest';
import { KeyRing } from '#common';
import {
  CredentialCipher,
  describeDestination,
  InvalidCredentialInputError,
  TokenSourceForbiddenError,
} from '#refresh';
import { errorOf, useUseCaseHarness } from '../support/use-case-harness.js';

/**
 * Secrets bound to their destination, through the real use cases on a real Redis: what
 * registration and PATCH store, what a refresh refuses before sending anything.
 */
describe('secrets bound to their destination', () => {
  const h = useUseCaseHarness('binding', { rotates: true });

  it('registration binds the secrets, and every kind gets a ciphertext (static included)', async () => {
    const p = await h.registerRefreshToken();
    expect(await h.storedSecrets(p.id)).toEqual({
      refreshToken: 'rt-0',
      clientSecret: 'cs',
      destination: describeDestination(p.kind, p.grant),
    });
    const s = await h.registerStatic();
    expect((await h.storedSecrets(s.id)).destination).toBe(describeDestination('static', s.grant));
  });

  it('a PATCH moving a credential needs its secrets again; with them the new binding is stored', async () => {
    const p = await h.registerRefreshToken();
    const err = await errorOf(
      h.credentials.update('default', p.id, { tokenEndpoint: 'https://attacker.example/token' }),
    );
    expect(err).toBeInstanceOf(InvalidCredentialInputError);
    expect((err as InvalidCredentialInputError).message).toBe(
      "tokenEndpoint changes where this credential's secrets are sent: supply refreshToken and clientSecret again",
    );
    // One of two is not enough.
    const partial = await errorOf(
      h.credentials.update('default', p.id, { clientId: 'other', refreshToken: 'mine' }),
    );
    expect((partial as InvalidCredentialInputError).field).toBe('clientSecret');
    expect((await h.store.getProjection(p.id))!.grant.tokenEndpoint).toBe('https://as.example/token');
    // Settings that do not move the secrets need nothing.
    await h.credentials.update('default', p.id, { scope: 'read', timeoutSeconds: 10 });

    const moved = await h.credentials.update('default', p.id, {
      tokenEndpoint: 'https://as2.example/token',
      refreshToken: 'rt-new',
      clientSecret: 'cs-new',
    });
    expect(await h.storedSecrets(p.id)).toEqual({
      refreshToken: 'rt-new',
      clientSecret: 'cs-new',
      destination: describeDestination(moved.kind, moved.grant),
    });
    expect(await h.run(p.id)).toMatchObject({ type: 'refreshed' });
    expect(h.grants.requests.at(-1)!.grant.tokenEndpoint).toBe('https://as2.example/token');
  });

  it('a refresh whose settings were changed in Redis stops before sending anything', async () => {
    const p = await h.registerRefreshToken();
    expect(await h.run(p.id)).toMatchObject({ type: 'refreshed' });
    // The rotated refresh token was stored with the binding.
    expect(await h.storedSecrets(p.id)).toMatchObject({
      refreshToken: `rt-${h.grants.requests.length}`,
      destination: describeDestination(p.kind, p.grant),
    });
    await h.tamper(p.id, (x) => {
      x.grant.tokenEndpoint = 'https://attacker.example/token';
    });
    const sent = h.grants.requests.length;
    const outcome = await h.run(p.id);
    expect(outcome).toMatchObject({
      type: 'failed',
      failure: { class: 'permanent', code: 'DESTINATION_MISMATCH' },
    });
    expect(h.grants.requests.length).toBe(sent);
    const after = (await h.store.getProjection(p.id))!;
    expect(after.state).toBe('reauth_required');
    expect(after.lastFailure?.message).toContain('tokenEndpoint');
    expect(after.lastFailure?.message).toContain('re-supply the secrets');
    // Re-binding it by PATCH (even of one secret) needs every secret again.
    const err = await errorOf(h.credentials.update('default', p.id, { clientSecret: 'attacker' }));
    expect((err as InvalidCredentialInputError).field).toBe('refreshToken');
  });

  it('a deleted ciphertext is not taken for a legacy one', async () => {
    const source = await h.registerRefreshToken();
    const p = await h.registerTokenExchange(source.id);
    await h.conn.hdel(h.keys.credential(p.id), 's');
    const sent = h.grants.requests.length;
    expect(await h.run(p.id)).toMatchObject({ failure: { code: 'DESTINATION_MISMATCH' } });
    expect(h.grants.requests.length).toBe(sent);
  });

  it('legacy ciphertexts (no binding) are trusted once and bound on that refresh', async () => {
    for (const kind of ['oauth2.refresh_token', 'oauth2.client_credentials'] as const) {
      const p = await h.register({
        kind,
        tokenEndpoint: 'https://as.example/token',
        clientId: 'app',
        clientSecret: 'cs',
        ...(kind === 'oauth2.refresh_token' ? { refreshToken: 'rt-0' } : {}),
      });
      await h.unbind(p.id);
      expect(await h.run(p.id)).toMatchObject({ type: 'refreshed' });
      expect((await h.storedSecrets(p.id)).destination).toBe(describeDestination(kind, p.grant));
      expect(await h.storedSecrets(p.id)).toMatchObject({ clientSecret: 'cs' });
    }
  });

  it('re-encryption to a new key keeps the binding', async () => {
    const p = await h.registerRefreshToken();
    const before = await h.storedSecrets(p.id);
    const ring = await h.reEncryptToNewKey();
    const s = await h.ciphertext(p.id);
    expect(KeyRing.keyIdOf(s!)).toBe('test2');
    expect(await new CredentialCipher(ring).decryptSecrets(p.id, s!)).toEqual(before);
    expect(before.destination).toBe(describeDestination(p.kind, p.grant));
  });

  it('naming another credential as a token source needs token:read', async () => {
    const source = await h.registerRefreshToken();
    const input = {
      namespace: 'default',
      kind: 'oauth2.token_exchange' as const,
      tokenEndpoint: 'https://as.example/token',
      subjectCredentialId: source.id,
    };
    const err = await errorOf(h.credentials.register(input));
    expect(err).toBeInstanceOf(TokenSourceForbiddenError);
    expect((err as TokenSourceForbiddenError).field).toBe('subjectCredentialId');
    const p = await h.credentials.register({ ...input, canReadTokens: true });
    // Sending that token somewhere else needs it too, even with no secrets of its own.
    const moved = await errorOf(
      h.credentials.update('default', p.id, { tokenEndpoint: 'https://attacker.example/token' }),
    );
    expect(moved).toBeInstanceOf(TokenSourceForbiddenError);
    // Changes that send it nowhere new do not.
    await h.credentials.update('default', p.id, { scope: 'x' });
    const vault = await errorOf(
      h.credentials.register({
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
    const source = await h.registerRefreshToken();
    const p = await h.registerTokenExchange(source.id);
    const moved = await h.credentials.update('default', p.id, {
      tokenEndpoint: 'https://as2.example/token',
      canReadTokens: true,
    });
    expect((await h.storedSecrets(p.id)).destination).toBe(describeDestination(moved.kind, moved.grant));
    // A ciphertext deleted or replaced in Redis proves nothing: any change then counts as a move.
    await h.conn.hdel(h.keys.credential(p.id), 's');
    const err = await errorOf(h.credentials.update('default', p.id, { clientSecret: 'attacker' }));
    expect(err).toBeInstanceOf(TokenSourceForbiddenError);
  });
});
