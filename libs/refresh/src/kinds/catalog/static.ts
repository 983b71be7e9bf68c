import { z } from 'zod';
import { secret, suppliedTokenFields, suppliedTokenFlags } from '../fields.js';
import { defineKind } from '../kind-descriptor.js';

/** A token imported as is and tracked to its expiry; new tokens come by PATCH. */
export default defineKind({
  kind: 'static',
  order: 70,
  fields: {
    ...suppliedTokenFields,
    accessToken: secret('accessToken'),
    scope: z.string().max(2048).optional(),
  },
  unboundFields: ['scope'],
  secrets: [],
  rotation: 'none',
  async settings() {
    return { clientAuth: 'none' };
  },
  async checkSecrets() {},
  cli: {
    flags: suppliedTokenFlags,
    reauth: '--from-json <file> (a JSON object with the new accessToken and expiresIn)',
  },
});
