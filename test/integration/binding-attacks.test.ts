import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyRing } from '#common';
import { type CredentialProjection } from '#core';
import {
  CredentialCipher,
  describeDestination,
  InvalidCredentialInputError,
  ReEncryption,
  type RegisterCredentialInput,
  type UpdateCredentialInput,
} from '#refresh';
import { TEST_ENCRYPTION_KEYS } from '../support/processes.js';
import { errorOf, startUseCaseHarness, type UseCaseHarness } from '../support/use-case-harness.js';

const ATTACKER = 'https://attacker.example/token';

/**
 * Someone who can write Redis edits a credential's stored settings; what the owner's next
 * ordinary change or the key rotation must not turn into a trusted destination.
 */
describe('destination binding against a Redis writer', () => {
  let h: UseCaseHarness;
  let conn: UseCaseHarness['conn'];
  let keys: UseCaseHarness['keys'];
  let store: UseCaseHarness['store'];
  let cipher: UseCaseHarness['cipher'];
  let credentials: UseCaseHarness['credentials'];
  let grants: UseCaseHarness['grants'];

  beforeAll(async () => {
    h = await startUseCaseHarness('binding-attacks', { rotates: false });
    ({ conn, keys, store, cipher, credentials, grants } = h);
  });

  afterAll(() => h?.close());

  const run = (id: string) => h.run(id);
  const storedSecrets = (id: string) => h.storedSecrets(id);
  const tamper = (id: string, edit: (p: CredentialProjection) => void) => h.tamper(id, edit);
  const source = () =>
    credentials.register({
      namespace: 'default',
      kind: 'static',
      accessToken: 'source-token',
      expiresIn: 3600,
    });

  it("an owner's unrelated PATCH does not bind a token exchange to a target changed in Redis", async () => {
    const s = await source();
    const p = await credentials.register({
      namespace: 'default',
      kind: 'oauth2.token_exchange',
      tokenEndpoint: 'https://as.example/token',
      subjectCredentialId: s.id,
      canReadTokens: true,
    });
    await tamper(p.id, (x) => {
      x.grant.tokenEndpoint = ATTACKER;
    });
    expect(await run(p.id)).toMatchObject({ failure: { code: 'DESTINATION_MISMATCH' } });
    // The owner (a key with token:read) changes something that sends nothing anywhere new.
    const err = await errorOf(credentials.update('default', p.id, { scope: 'other', canReadTokens: true }));
    expect(err).toBeInstanceOf(InvalidCredentialInputError);
    expect((err as InvalidCredentialInputError).field).toBe('tokenEndpoint');
    expect((await storedSecrets(p.id)).destination).toBe(
      describeDestination(p.kind, { ...p.grant, tokenEndpoint: 'https://as.example/token' }),
    );
    // Restating the target (the owner looked at it) is accepted, and so is putting it back.
    const restored = await credentials.update('default', p.id, {
      tokenEndpoint: 'https://as.example/token',
      canReadTokens: true,
    });
    expect(restored.grant.tokenEndpoint).toBe('https://as.example/token');
    const sent = grants.requests.length;
    await run(p.id);
    expect(grants.requests.slice(sent).map((r) => r.grant.tokenEndpoint)).not.toContain(ATTACKER);
  });

  it("an owner's unrelated PATCH does not bind a Vault login to an address changed in Redis", async () => {
    const s = await source();
    const p = await credentials.register({
      namespace: 'default',
      kind: 'vault.jwt_login',
      vaultAddr: 'https://vault.example',
      role: 'r',
      jwtCredentialId: s.id,
      canReadTokens: true,
    });
    await tamper(p.id, (x) => {
      x.grant.vault!.address = 'https://attacker.example';
    });
    const err = await errorOf(
      credentials.update('default', p.id, { maxTtlSeconds: 600, role: 'r2', canReadTokens: true }),
    );
    expect((err as InvalidCredentialInputError).field).toBe('vaultAddr');
    const sent = grants.requests.length;
    await run(p.id);
    expect(grants.requests.length).toBe(sent);
  });

  it('a PATCH of secrets alone does not keep a Vault session for an address changed in Redis', async () => {
    const s = await source();
    const p = await credentials.register({
      namespace: 'default',
      kind: 'vault.jwt_login',
      vaultAddr: 'https://vault.example',
      role: 'r',
      jwtCredentialId: s.id,
      canReadTokens: true,
    });
    // A login happened: the session is stored with the binding.
    const session = { clientToken: 'hvs.session', loginAt: Date.now(), renewable: true, leaseSeconds: 3600 };
    const bound = { ...(await storedSecrets(p.id)), vaultSession: session };
    await conn.hset(keys.credential(p.id), 's', await cipher.encryptSecrets(p.id, bound));
    await tamper(p.id, (x) => {
      x.grant.vault!.address = 'https://attacker.example';
    });
    // No grant field in the request, so nothing would have dropped the session.
    const err = await errorOf(
      credentials.update('default', p.id, { refreshToken: 'x', canReadTokens: true }),
    );
    expect((err as InvalidCredentialInputError).field).toBe('vaultAddr');
    expect(await storedSecrets(p.id)).toEqual(bound);
  });

  it('re-encryption binds a legacy ciphertext, so a later edit in Redis is refused', async () => {
    const p = await credentials.register({
      namespace: 'default',
      kind: 'oauth2.refresh_token',
      tokenEndpoint: 'https://as.example/token',
      clientId: 'app',
      refreshToken: 'rt-0',
      clientSecret: 'cs',
    });
    // What a release before destination binding stored.
    const { destination: _d, ...legacy } = await storedSecrets(p.id);
    await conn.hset(keys.credential(p.id), 's', await cipher.encryptSecrets(p.id, legacy));
    const ring = KeyRing.parse(`test2:${Buffer.alloc(32, 9).toString('base64url')},${TEST_ENCRYPTION_KEYS}`);
    await new ReEncryption(store, ring).run();
    const rotated = new CredentialCipher(ring);
    const after = await rotated.decryptSecrets(p.id, (await conn.hget(keys.credential(p.id), 's'))!);
    expect(after).toEqual({ ...legacy, destination: describeDestination(p.kind, p.grant) });
  });
  it('every bound field an owner changes by PATCH is accepted as the request states it', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const key = JSON.stringify(await exportJWK(privateKey));
    const s = await source();
    const cases: Array<[Omit<RegisterCredentialInput, 'namespace'>, UpdateCredentialInput[]]> = [
      [
        {
          kind: 'oauth2.client_credentials',
          tokenEndpoint: 'https://as.example/token',
          clientId: 'app',
          clientAuth: 'private_key_jwt',
          signingAlg: 'ES256',
          audience: 'a',
          resource: 'https://r.example',
          privateKey: key,
        },
        [
          { tokenEndpoint: 'https://as2.example/token' },
          { clientId: 'app2' },
          { audience: 'b' },
          { resource: 'https://r2.example' },
          { kid: 'k1' },
        ],
      ],
      [
        {
          kind: 'oauth2.jwt_bearer',
          tokenEndpoint: 'https://as.example/token',
          clientId: 'app',
          clientAuth: 'none',
          signingAlg: 'ES256',
          privateKey: key,
        },
        [
          { assertionIssuer: 'iss2' },
          { subject: 'sub2' },
          { assertionAudience: 'aud2' },
          { claims: { x: 1 } },
          { ttlSeconds: 120 },
          { kid: 'k2' },
        ],
      ],
      [
        { kind: 'jwt.mint', issuer: 'i', subject: 's', audience: 'a', ttlSeconds: 60, privateKey: key },
        [
          { issuer: 'i2' },
          { subject: 's2' },
          { audience: ['a', 'b'] },
          { claims: { y: 2 } },
          { ttlSeconds: 90 },
        ],
      ],
      [
        { kind: 'vault.jwt_login', vaultAddr: 'https://vault.example', role: 'r', jwtCredentialId: s.id },
        [
          { vaultAddr: 'https://vault2.example/' },
          { mount: '/other/' },
          { role: 'r2' },
          { vaultNamespace: 'team' },
        ],
      ],
      [
        {
          kind: 'oauth2.token_exchange',
          tokenEndpoint: 'https://as.example/token',
          subjectCredentialId: s.id,
        },
        [{ tokenEndpoint: 'https://as2.example/token' }, { clientAuth: 'none', audience: 'x' }],
      ],
    ];
    for (const [registration, patches] of cases) {
      const p = await credentials.register({ namespace: 'default', ...registration, canReadTokens: true });
      for (const patch of patches) {
        const secrets = registration.privateKey ? { privateKey: key } : {};
        const moved = await credentials.update('default', p.id, {
          ...patch,
          ...secrets,
          canReadTokens: true,
        });
        expect((await storedSecrets(p.id)).destination, JSON.stringify(patch)).toBe(
          describeDestination(moved.kind, moved.grant),
        );
      }
    }
  });
});
