import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { JwtTemplate } from '#core';
import type { SigningKey } from './signing-key.js';

export interface SignedJwt {
  jwt: string;
  /** Epoch milliseconds of `iat` (whole seconds). */
  issuedAt: number;
  expiresInSeconds: number;
}

/**
 * Signs one JWT from a template. Claims are built in layers, later ones winning: the template's
 * `claims` object, then `iss`/`sub`/`aud` from the template's fields, then `iat`, `exp`
 * (`iat + ttlSeconds`) and a fresh `jti`, which are always set by tokenkeeper so a template can
 * never mint a token that does not expire. No placeholder syntax: claims are copied as given.
 */
export async function signJwt(template: JwtTemplate, key: SigningKey, now: number): Promise<SignedJwt> {
  const iat = Math.floor(now / 1000);
  const header = {
    alg: template.alg ?? key.alg,
    typ: 'JWT',
    ...((template.kid ?? key.kid) ? { kid: template.kid ?? key.kid } : {}),
  };
  const payload: Record<string, unknown> = { ...(template.claims ?? {}) };
  if (template.issuer !== undefined) payload.iss = template.issuer;
  if (template.subject !== undefined) payload.sub = template.subject;
  if (template.audience !== undefined) payload.aud = template.audience;
  const jwt = await new SignJWT(payload)
    .setProtectedHeader(header)
    .setIssuedAt(iat)
    .setExpirationTime(iat + template.ttlSeconds)
    .setJti(randomUUID())
    .sign(key.key);
  return { jwt, issuedAt: iat * 1000, expiresInSeconds: template.ttlSeconds };
}
