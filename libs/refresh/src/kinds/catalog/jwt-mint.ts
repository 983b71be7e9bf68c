import { z } from 'zod';
import { SIGNING_ALGS } from '#core';
import { InvalidCredentialInputError } from '../../errors.js';
import { claims, claimText, kid, positiveSeconds, secret } from '../fields.js';
import { checkSigningKey, jwtTemplate } from '../grant-input.js';
import { defineKind } from '../kind-descriptor.js';
import { lazyClient } from '../lazy-grants.js';

/** JWTs tokenkeeper signs itself with the credential's private key; no provider involved. */
export default defineKind({
  kind: 'jwt.mint',
  order: 50,
  fields: {
    privateKey: secret('privateKey'),
    signingAlg: z.enum(SIGNING_ALGS).optional(),
    kid: kid.optional(),
    ttlSeconds: positiveSeconds(30 * 86_400),
    /** Claims of the minted JWT (not URLs tokenkeeper calls). */
    issuer: claimText.optional(),
    subject: claimText.optional(),
    audience: z.union([claimText, z.array(claimText).min(1).max(16)]).optional(),
    claims: claims.optional(),
  },
  // `issuer` is an OAuth URL for some kinds and a claim here, `audience` an OAuth parameter of up to
  // 2048 characters there; a PATCH does not say which (the credential's kind checks it after).
  updateFields: {
    issuer: z.string().min(1).max(2048).optional(),
    audience: z.union([z.string().min(1).max(2048), z.array(claimText).min(1).max(16)]).optional(),
  },
  secrets: ['privateKey'],
  rotation: 'none',
  grantClient: (deps) => lazyClient((g) => new g.JwtMintGrantClient(deps.now)),
  exactLifetime: true,
  async settings(input, current) {
    const prev = current?.mint;
    const ttlSeconds = input.ttlSeconds ?? prev?.ttlSeconds;
    if (ttlSeconds === undefined)
      throw new InvalidCredentialInputError('ttlSeconds', 'jwt.mint needs ttlSeconds');
    const mint = jwtTemplate(input, prev, ttlSeconds, {
      issuer: input.issuer ?? prev?.issuer,
      subject: input.subject ?? prev?.subject,
      audience: input.audience ?? prev?.audience,
    });
    return { clientAuth: 'none', mint };
  },
  async checkSecrets(grant, secrets) {
    await checkSigningKey('jwt.mint', secrets.privateKey, grant.mint?.alg);
  },
  cli: { flags: [], reauth: '--from-json <file> (a JSON object with the new privateKey)' },
});
