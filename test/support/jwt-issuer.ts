/** A stand-in for SPIRE's JWT-SVID issuer: one signing key, its JWKS, and short-lived JWTs. */
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, type JSONWebKeySet, SignJWT } from 'jose';

export interface TestJwtIssuer {
  readonly jwks: JSONWebKeySet;
  /** A JWT for `subject` and `audience`, valid `ttlSeconds` from now (negative: already expired). */
  sign(opts: { subject?: string; audience?: string; ttlSeconds: number }): Promise<string>;
}

export async function createJwtIssuer(): Promise<TestJwtIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const kid = `svid-${randomBytes(4).toString('hex')}`;
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  return {
    jwks: { keys: [jwk] },
    async sign({ subject = 'spiffe://example.org/backend', audience = 'vault', ttlSeconds }) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
        .setSubject(subject)
        .setAudience(audience)
        .setIssuer('https://spire.example.org')
        .setIssuedAt(Math.min(now, now + ttlSeconds - 60))
        .setExpirationTime(now + ttlSeconds)
        .sign(privateKey);
    },
  };
}
