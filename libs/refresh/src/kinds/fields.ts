import { z } from 'zod';
import { jsonDepthExceeds } from '#core';

/** Field schemas several kinds share. */

export const secret = (what: string) =>
  z.string().min(1, `${what} must not be empty`).max(16_384, `${what} is longer than 16 KiB`);
export const url = z
  .string()
  .max(2048)
  .refine((v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol), 'must be an http(s) URL');
export const positiveSeconds = (max: number) => z.number().int().positive().max(max);
/** How deeply `claims` may nest objects and arrays (the body as a whole may nest 32). */
const MAX_CLAIMS_DEPTH = 16;
export const claims = z
  .record(z.string().min(1).max(256), z.unknown())
  .refine((c) => JSON.stringify(c).length <= 16_384, 'claims must serialise to at most 16 KiB')
  .refine(
    (c) => !jsonDepthExceeds(JSON.stringify(c), MAX_CLAIMS_DEPTH),
    `claims must not nest objects or arrays deeper than ${MAX_CLAIMS_DEPTH} levels`,
  );
export const filePath = z
  .string()
  .min(1)
  .max(4096)
  .refine((v) => v.startsWith('/'), 'must be an absolute path');
export const credentialRef = z
  .string()
  .regex(/^cred_[A-Za-z0-9_-]{10,64}$/, 'must be a credential id (cred_...)');
export const tokenTypeUri = z.string().min(1).max(512);
export const kid = z.string().min(1).max(256);
export const claimText = z.string().min(1).max(1024);

/** A token the caller already holds (any kind), or the token a `static` credential tracks. */
export const suppliedTokenFields = {
  accessToken: secret('accessToken').optional(),
  expiresIn: positiveSeconds(10 * 365 * 86_400).optional(),
  expiresAt: z.iso
    .datetime({ offset: true })
    .transform((v) => Date.parse(v))
    .optional(),
  tokenType: z.string().min(1).max(64).optional(),
};

/** Fields of a token the caller supplies: not grant settings. */
export const SUPPLIED_TOKEN_FIELDS = Object.keys(suppliedTokenFields);

/** `creds add` flags for a token the caller already holds. */
export const suppliedTokenFlags = [
  {
    flag: '--access-token <token>',
    field: 'accessToken',
    help: 'current access token',
    secret: true,
    addOnly: true,
  },
  {
    flag: '--expires-in <seconds>',
    field: 'expiresIn',
    help: 'seconds the current access token has left',
    int: true,
    addOnly: true,
  },
  {
    flag: '--expires-at <iso>',
    field: 'expiresAt',
    help: 'expiry of the current access token (ISO 8601)',
    addOnly: true,
  },
  {
    flag: '--token-type <type>',
    field: 'tokenType',
    help: 'token type of the current access token',
    addOnly: true,
  },
] as const;
