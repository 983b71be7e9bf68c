import { describe, expect, it } from 'vitest';
import { outboundUrlsOf, registerCredentialSchema, updateCredentialSchema } from './credential.schemas.js';

const fields = (body: unknown) => {
  const r = registerCredentialSchema.safeParse(body);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}:${i.code}`);
};

describe('registerCredentialSchema', () => {
  it('accepts the documented body of every kind', () => {
    const ok = [
      {
        kind: 'jwt.mint',
        privateKey: 'k',
        ttlSeconds: 1200,
        issuer: 'neuron',
        audience: ['a', 'b'],
        claims: { uid: 1 },
      },
      {
        kind: 'vault.jwt_login',
        vaultAddr: 'https://vault:8200',
        role: 'backend',
        jwtFile: '/run/svid.token',
        maxTtlSeconds: 3600,
      },
      { kind: 'static', accessToken: 't', expiresAt: '2030-01-01T00:00:00Z' },
      {
        kind: 'oauth2.jwt_bearer',
        tokenEndpoint: 'https://idp/token',
        privateKey: 'k',
        subject: 'u',
        ttlSeconds: 300,
      },
      {
        kind: 'oauth2.token_exchange',
        issuer: 'https://idp',
        subjectTokenFile: '/run/t',
        subjectTokenType: 'urn:x',
      },
      {
        kind: 'oauth2.client_credentials',
        tokenEndpoint: 'https://idp/token',
        clientId: 'c',
        clientAuth: 'private_key_jwt',
        privateKey: 'k',
        signingAlg: 'ES256',
      },
    ];
    for (const body of ok) expect(fields(body), JSON.stringify(body)).toEqual([]);
    const parsed = registerCredentialSchema.parse(ok[2]);
    expect(parsed).toMatchObject({ expiresAt: Date.parse('2030-01-01T00:00:00Z') });
  });

  it('names the field: missing, unknown for the kind, wrong kind', () => {
    expect(fields({ kind: 'vault.jwt_login', role: 'r', jwtFile: '/f' })).toEqual(['vaultAddr:invalid_type']);
    expect(fields({ kind: 'jwt.mint', privateKey: 'k', ttlSeconds: 60, refreshToken: 'x' })).toEqual([
      ':unrecognized_keys',
    ]);
    expect(fields({ kind: 'static', expiresIn: 60 })).toEqual(['accessToken:invalid_type']);
    expect(
      fields({ kind: 'vault.jwt_login', vaultAddr: 'https://v', role: 'r', jwtFile: 'relative' }),
    ).toEqual(['jwtFile:custom']);
    expect(fields({ kind: 'nope' })[0]).toMatch(/^kind:/);
  });
});

describe('updateCredentialSchema and outboundUrlsOf', () => {
  it('takes any kind’s fields; only URL fields go to the outbound policy', () => {
    const body = updateCredentialSchema.parse({ accessToken: 't', expiresIn: 60, issuer: 'neuron-1' });
    expect(outboundUrlsOf(body)).toEqual({});
    expect(outboundUrlsOf({ kind: 'jwt.mint', issuer: 'https://looks.like/url' })).toEqual({});
    expect(outboundUrlsOf({ kind: 'oauth2.refresh_token', issuer: 'https://idp' })).toEqual({
      issuer: 'https://idp',
    });
    expect(outboundUrlsOf({ vaultAddr: 'https://vault' })).toEqual({ vaultAddr: 'https://vault' });
  });

  it('takes a shared field within the loosest kind’s bounds (an OAuth audience is up to 2048 characters)', () => {
    const audience = `https://api.example/${'a'.repeat(2_000)}`;
    expect(registerCredentialSchema.safeParse({ kind: 'oauth2.client_credentials', audience }).success).toBe(
      true,
    );
    expect(updateCredentialSchema.safeParse({ audience }).success).toBe(true);
    expect(updateCredentialSchema.safeParse({ audience: ['a', 'b'] }).success).toBe(true);
    expect(updateCredentialSchema.safeParse({ audience: 'a'.repeat(2_049) }).success).toBe(false);
  });
});
