import { exportJWK, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  CredentialCipher,
  describeDestination,
  InvalidCredentialInputError,
  type RegisterCredentialInput,
  type UpdateCredentialInput,
} from '#refresh';
import { errorOf, useUseCaseHarness } from '../support/use-case-harness.js';

const ATTACKER = 'https://attacker.example/token';

/**
 * Someone who can write Redis edits a credential's stored settings; what the owner's next
 * ordinary change or the key rotation must not turn into a trusted destination.
 */
describe('destination binding against a Redis writer', () => {
  const h = useUseCaseHarness('binding-attacks', { rotates: false });

  it("an owner's unrelated PATCH does not bind a token exchange to a target changed in Redis", async () => {
    const p = await h.registerTokenExchange((await h.registerStatic()).id);
    await h.tamper(p.id, (x) => {
      x.grant.tokenEndpoint = ATTACKER;
    });
    expect(await h.run(p.id)).toMatchObject({ failure: { code: 'DESTINATION_MISMATCH' } });
    // The owner (a key with token:read) changes something that sends nothing anywhere new.
    const err = await errorOf(h.credentials.update('default', p.id, { scope: 'other', canReadTokens: true }));
    expect(err).toBeInstanceOf(InvalidCredentialInputError);
    expect((err as InvalidCredentialInputError).field).toBe('tokenEndpoint');
    expect((await h.storedSecrets(p.id)).destination).toBe(
      describeDestination(p.kind, { ...p.grant, tokenEndpoint: 'https://as.example/token' }),
    );
    // Restating the target (the owner looked at it) is accepted, and so is putting it back.
    const restored = await h.credentials.update('default', p.id, {
      tokenEndpoint: 'https://as.example/token',
      canReadTokens: true,
    });
    expect(restored.grant.tokenEndpoint).toBe('https://as.example/token');
    const sent = h.grants.requests.length;
    await h.run(p.id);
    expect(h.grants.requests.slice(sent).map((r) => r.grant.tokenEndpoint)).not.toContain(ATTACKER);
  });

  it("an owner's unrelated PATCH does not bind a Vault login to an address changed in Redis", async () => {
    const p = await h.registerVaultLogin((await h.registerStatic()).id);
    await h.tamper(p.id, (x) => {
      x.grant.vault!.address = 'https://attacker.example';
    });
    const err = await errorOf(
      h.credentials.update('default', p.id, { maxTtlSeconds: 600, role: 'r2', canReadTokens: true }),
    );
    expect((err as InvalidCredentialInputError).field).toBe('vaultAddr');
    const sent = h.grants.requests.length;
    await h.run(p.id);
    expect(h.grants.requests.length).toBe(sent);
  });

  it('a PATCH of a secret does not keep a Vault session for an address changed in Redis (the kind takes none)', async () => {
    const p = await h.registerVaultLogin((await h.registerStatic()).id);
    // A login happened: the session is stored with the binding.
    const session = { clientToken: 'hvs.session', loginAt: Date.now(), renewable: true, leaseSeconds: 3600 };
    const bound = { ...(await h.storedSecrets(p.id)), vaultSession: session };
    await h.storeSecrets(p.id, bound);
    await h.tamper(p.id, (x) => {
      x.grant.vault!.address = 'https://attacker.example';
    });
    // No grant field in the request, so nothing would have dropped the session: a Vault login
    // holds no secrets, so the secret itself is refused before anything is stored.
    const err = await errorOf(
      h.credentials.update('default', p.id, { refreshToken: 'x', canReadTokens: true }),
    );
    expect((err as InvalidCredentialInputError).field).toBe('refreshToken');
    expect(await h.storedSecrets(p.id)).toEqual(bound);
  });

  it('re-encryption binds a legacy ciphertext, so a later edit in Redis is refused', async () => {
    const p = await h.registerRefreshToken();
    const legacy = await h.unbind(p.id);
    const rotated = new CredentialCipher(await h.reEncryptToNewKey());
    const after = await rotated.decryptSecrets(p.id, (await h.ciphertext(p.id))!);
    expect(after).toEqual({ ...legacy, destination: describeDestination(p.kind, p.grant) });
  });
  it('every bound field an owner changes by PATCH is accepted as the request states it', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const key = JSON.stringify(await exportJWK(privateKey));
    const s = await h.registerStatic();
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
          { mount: 'other' },
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
      const p = await h.register({ ...registration, canReadTokens: true });
      for (const patch of patches) {
        const secrets = registration.privateKey ? { privateKey: key } : {};
        const moved = await h.credentials.update('default', p.id, {
          ...patch,
          ...secrets,
          canReadTokens: true,
        });
        expect((await h.storedSecrets(p.id)).destination, JSON.stringify(patch)).toBe(
          describeDestination(moved.kind, moved.grant),
        );
      }
    }
  });
});
