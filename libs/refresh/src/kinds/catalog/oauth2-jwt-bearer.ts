import { z } from 'zod';
import { InvalidCredentialInputError } from '../../errors.js';
import { claims, claimText, kid, positiveSeconds } from '../fields.js';
import { DEFAULT_ASSERTION_TTL_SECONDS, jwtTemplate } from '../grant-input.js';
import { oauthKind } from '../oauth-kind.js';

/** RFC 7523 §2.1: a JWT assertion tokenkeeper signs, presented as the grant. */
export default oauthKind({
  kind: 'oauth2.jwt_bearer',
  order: 30,
  grant: (g) => g.JWT_BEARER_GRANT,
  fields: {
    subject: claimText.optional(),
    assertionIssuer: claimText.optional(),
    assertionAudience: z.string().min(1).max(2048).optional(),
    ttlSeconds: positiveSeconds(3600).optional(),
    kid: kid.optional(),
    claims: claims.optional(),
  },
  signsAssertion: true,
  settings(settings, input, current) {
    const prev = current?.assertion;
    const assertionIssuer = input.assertionIssuer ?? prev?.issuer ?? settings.clientId;
    if (!assertionIssuer) {
      throw new InvalidCredentialInputError(
        'assertionIssuer',
        'give assertionIssuer or clientId (the assertion `iss`)',
      );
    }
    const ttlSeconds = input.ttlSeconds ?? prev?.ttlSeconds ?? DEFAULT_ASSERTION_TTL_SECONDS;
    const assertion = jwtTemplate(input, prev, ttlSeconds, {
      issuer: assertionIssuer,
      subject: input.subject ?? prev?.subject ?? assertionIssuer,
      audience: input.assertionAudience ?? prev?.audience,
    });
    return { ...settings, assertion };
  },
  reauth: '--from-json <file> (a JSON object with the new privateKey)',
});
