import { generateKeyPairSync } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import type { GrantSettings } from '#core';
import { GrantConfigurationError } from './grant-client.js';
import { JwtMintGrantClient } from './jwt-mint-grant-client.js';
import { importSigningKey } from './signing-key.js';

const NOW = Date.UTC(2026, 10, 20, 12, 0, 0, 500);

const mint = (template: NonNullable<GrantSettings['mint']>, privateKey: string) =>
  new JwtMintGrantClient(() => NOW).execute({
    kind: 'jwt.mint',
    grant: { clientAuth: 'none', mint: template },
    secrets: { privateKey },
    timeoutMs: 1000,
  });

describe('JwtMintGrantClient', () => {
  it('signs a JWT with the template claims, iat/exp/jti set by tokenkeeper, lifetime = ttl', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = JSON.stringify({ ...(await exportJWK(privateKey)), kid: 'neuron-1' });
    const result = await mint(
      {
        ttlSeconds: 1800,
        issuer: 'neuron-5F3sa2',
        subject: '42',
        audience: ['business-server'],
        claims: { uid: 42, chain: 'bittensor', netuid: 7, exp: 1, iat: 1 },
      },
      jwk,
    );
    expect(result.expiresInSeconds).toBe(1800);
    expect(result.receivedAt).toBe(Math.floor(NOW / 1000) * 1000);
    expect(result.sentAt).toBe(result.receivedAt);
    const jwks = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: 'neuron-1' }] });
    const { payload, protectedHeader } = await jwtVerify(result.accessToken, jwks, {
      currentDate: new Date(NOW),
      audience: 'business-server',
      issuer: 'neuron-5F3sa2',
    });
    expect(protectedHeader).toMatchObject({ alg: 'ES256', kid: 'neuron-1', typ: 'JWT' });
    expect(payload).toMatchObject({ uid: 42, chain: 'bittensor', netuid: 7, sub: '42' });
    // Registered claims from the template never win over tokenkeeper's own.
    expect(payload.iat).toBe(Math.floor(NOW / 1000));
    expect(payload.exp).toBe(Math.floor(NOW / 1000) + 1800);
    expect(typeof payload.jti).toBe('string');
    const again = await mint({ ttlSeconds: 60 }, jwk);
    expect(again.accessToken).not.toBe(result.accessToken);
  });

  it('infers the algorithm from a PEM key (RS256 for RSA, EdDSA for Ed25519) and honours signingAlg', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      format: 'pem',
      type: 'pkcs8',
    });
    const ed = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' });
    expect(decodeProtectedHeader((await mint({ ttlSeconds: 60 }, rsa.toString())).accessToken).alg).toBe(
      'RS256',
    );
    expect(decodeProtectedHeader((await mint({ ttlSeconds: 60 }, ed.toString())).accessToken).alg).toBe(
      'EdDSA',
    );
    const ps = await mint({ ttlSeconds: 60, alg: 'PS256' }, rsa.toString());
    expect(decodeProtectedHeader(ps.accessToken).alg).toBe('PS256');
  });

  it('refuses unusable keys with a message that never echoes the key', async () => {
    await expect(
      importSigningKey('-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----'),
    ).rejects.toThrow(GrantConfigurationError);
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const publicJwk = JSON.stringify(await exportJWK(publicKey));
    await expect(importSigningKey(publicJwk)).rejects.toThrow(/no private part/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      format: 'pem',
      type: 'pkcs8',
    });
    const err = await importSigningKey(rsa.toString(), 'ES256').catch((e: Error) => e);
    expect(err).toBeInstanceOf(GrantConfigurationError);
    expect((err as Error).message).not.toContain('BEGIN');
  });
});
