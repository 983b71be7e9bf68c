import { createPrivateKey, type KeyObject } from 'node:crypto';
import { type CryptoKey, importJWK, importPKCS8, type JWK } from 'jose';
import { SIGNING_ALGS, type SigningAlg } from '#core';
import { GrantConfigurationError } from './grant-client.js';

/** A private key ready to sign with jose and openid-client. */
export interface SigningKey {
  key: CryptoKey;
  alg: SigningAlg;
  kid?: string;
}

/**
 * Imports a stored private key: a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) or a private JWK as
 * JSON. The algorithm is the one asked for, else the JWK's `alg`, else the usual one for the key
 * type (RS256 for RSA, ES256/384/512 by curve, EdDSA for Ed25519). Throws GrantConfigurationError
 * with a message safe to show: it never echoes the key.
 */
export async function importSigningKey(privateKey: string, alg?: SigningAlg): Promise<SigningKey> {
  const text = privateKey.trim();
  if (text.startsWith('{')) return importJwkKey(text, alg);
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(text);
  } catch {
    throw new GrantConfigurationError('privateKey is neither a PKCS#8 PEM private key nor a private JWK');
  }
  const chosen = alg ?? defaultAlg(keyObject);
  // jose wants PKCS#8 specifically; re-export so "BEGIN RSA PRIVATE KEY" (PKCS#1) works too.
  const pkcs8 = keyObject.export({ format: 'pem', type: 'pkcs8' }).toString();
  try {
    return { key: await importPKCS8(pkcs8, chosen), alg: chosen };
  } catch (err) {
    throw new GrantConfigurationError(`privateKey cannot sign with ${chosen}: ${(err as Error).message}`);
  }
}

async function importJwkKey(text: string, alg?: SigningAlg): Promise<SigningKey> {
  let jwk: JWK;
  try {
    jwk = JSON.parse(text) as JWK;
  } catch {
    throw new GrantConfigurationError('privateKey looks like JSON but does not parse');
  }
  if (!jwk || typeof jwk !== 'object' || typeof jwk.d !== 'string') {
    throw new GrantConfigurationError('privateKey JWK holds no private part ("d")');
  }
  const jwkAlg = SIGNING_ALGS.find((a) => a === jwk.alg);
  const chosen = alg ?? jwkAlg ?? defaultAlg(createPrivateKeyFromJwk(jwk));
  try {
    const key = await importJWK(jwk, chosen);
    if (key instanceof Uint8Array) throw new Error('a symmetric key cannot sign here');
    return { key, alg: chosen, ...(typeof jwk.kid === 'string' ? { kid: jwk.kid } : {}) };
  } catch (err) {
    throw new GrantConfigurationError(`privateKey cannot sign with ${chosen}: ${(err as Error).message}`);
  }
}

function createPrivateKeyFromJwk(jwk: JWK): KeyObject {
  try {
    return createPrivateKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
  } catch {
    throw new GrantConfigurationError('privateKey JWK is not a usable private key');
  }
}

function defaultAlg(key: KeyObject): SigningAlg {
  const type = key.asymmetricKeyType;
  if (type === 'rsa') return 'RS256';
  if (type === 'rsa-pss') return 'PS256';
  if (type === 'ed25519') return 'EdDSA';
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1' || curve === 'P-256') return 'ES256';
    if (curve === 'secp384r1' || curve === 'P-384') return 'ES384';
    if (curve === 'secp521r1' || curve === 'P-521') return 'ES512';
  }
  throw new GrantConfigurationError(
    `privateKey of type ${type ?? 'unknown'} has no default algorithm: give signingAlg`,
  );
}
