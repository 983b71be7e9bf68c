import { z } from 'zod';
// The helpers a file of libs/refresh/src/kinds/catalog/ imports as `../fields.js` and
// `../kind-descriptor.js` (never `#kinds`, which loads the catalog).
import { secret, url } from '../../../libs/refresh/src/kinds/fields.js';
import { defineKind } from '../../../libs/refresh/src/kinds/kind-descriptor.js';

/**
 * A kind as a new descriptor file would add it (registered only by the test that proves adding a
 * kind needs nothing else): a GitHub App installation token, from a JWT signed as the App.
 */
export const calls: { kind: string; tokenEndpoint?: string | undefined }[] = [];

export default defineKind({
  kind: 'github.app_installation',
  order: 80,
  fields: {
    /** `https://api.github.com/app/installations/{id}/access_tokens` */
    tokenEndpoint: url,
    /** The App ID: the `iss` of the JWT. */
    assertionIssuer: z.string().min(1).max(64),
    privateKey: secret('privateKey'),
  },
  secrets: ['privateKey'],
  rotation: 'none',
  grantClient: () => ({
    async execute(request) {
      calls.push({ kind: request.kind, tokenEndpoint: request.grant.tokenEndpoint });
      return {
        accessToken: 'ghs_example',
        tokenType: 'bearer',
        expiresInSeconds: 3600,
        receivedAt: 1,
        sentAt: 1,
      };
    },
  }),
  async settings(input, current) {
    const tokenEndpoint = input.tokenEndpoint ?? current?.tokenEndpoint;
    const issuer = input.assertionIssuer ?? current?.assertion?.issuer;
    return {
      clientAuth: 'none',
      ...(tokenEndpoint ? { tokenEndpoint } : {}),
      assertion: { ttlSeconds: 540, ...(issuer ? { issuer } : {}) },
    };
  },
  async checkSecrets() {},
  cli: {
    flags: [{ flag: '--app-id <id>', field: 'assertionIssuer', help: 'GitHub App ID' }],
    reauth: '--from-json <file> (a JSON object with the new privateKey)',
  },
});
