import { z } from 'zod';
import { CLIENT_AUTH_METHODS, CREDENTIAL_KINDS, CREDENTIAL_STATES } from '#core';

const secret = (what: string) =>
  z.string().min(1, `${what} must not be empty`).max(16_384, `${what} is longer than 16 KiB`);
const url = z
  .string()
  .max(2048)
  .refine((v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol), 'must be an http(s) URL');
const labelKey = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/, 'label keys are 1-63 of [A-Za-z0-9._/-]');
const labels = z
  .record(labelKey, z.string().max(256))
  .refine((l) => Object.keys(l).length <= 64, 'at most 64 labels');

export const policySchema = z
  .object({
    fraction: z.number().gt(0).max(0.9).optional(),
    minBufferSeconds: z.number().min(0).max(86_400).optional(),
    maxBufferSeconds: z
      .number()
      .min(0)
      .max(7 * 86_400)
      .optional(),
    defaultLifetimeSeconds: z
      .number()
      .min(1)
      .max(365 * 86_400)
      .optional(),
  })
  .strict()
  .refine(
    (p) =>
      p.minBufferSeconds === undefined ||
      p.maxBufferSeconds === undefined ||
      p.minBufferSeconds <= p.maxBufferSeconds,
    {
      message: 'minBufferSeconds must not exceed maxBufferSeconds',
      path: ['minBufferSeconds'],
    },
  );

const grantFields = {
  tokenEndpoint: url.optional(),
  issuer: url.optional(),
  clientId: z.string().min(1).max(512).optional(),
  clientAuth: z.enum(CLIENT_AUTH_METHODS).optional(),
  scope: z.string().max(2048).optional(),
  audience: z.string().max(2048).optional(),
  resource: url.optional(),
  timeoutSeconds: z.number().min(0.1).max(60).optional(),
};

export const registerCredentialSchema = z
  .object({
    kind: z.enum(CREDENTIAL_KINDS),
    name: z.string().min(1).max(200).optional(),
    labels: labels.optional(),
    ...grantFields,
    refreshToken: secret('refreshToken').optional(),
    clientSecret: secret('clientSecret').optional(),
    accessToken: secret('accessToken').optional(),
    expiresIn: z
      .number()
      .int()
      .positive()
      .max(10 * 365 * 86_400)
      .optional(),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
    tokenType: z.string().min(1).max(64).optional(),
    policy: policySchema.optional(),
  })
  .strict();
export type RegisterCredentialBody = z.infer<typeof registerCredentialSchema>;

export const updateCredentialSchema = z
  .object({
    name: z.string().min(1).max(200).optional(),
    labels: labels.optional(),
    ...grantFields,
    refreshToken: secret('refreshToken').optional(),
    clientSecret: secret('clientSecret').optional(),
    policy: policySchema.optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'the body changes nothing: give at least one field');
export type UpdateCredentialBody = z.infer<typeof updateCredentialSchema>;

export const listQuerySchema = z
  .object({
    state: z.enum(CREDENTIAL_STATES).optional(),
    label: z
      .union([z.string(), z.array(z.string())])
      .optional()
      .transform((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]))
      .pipe(z.array(z.string().regex(/^[^=]{1,63}=.{0,256}$/, 'label filters look like key=value')).max(16)),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z.string().max(512).optional(),
  })
  .strict();

export const tokenQuerySchema = z
  .object({ minTtl: z.coerce.number().int().min(0).max(86_400).default(30) })
  .strict();

export const invalidateSchema = z.object({ version: z.number().int().min(0) }).strict();

export const eventsQuerySchema = z
  .object({
    after: z.coerce.number().int().min(0).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();

/** Credential ids this service issues; anything else cannot exist and answers 404. */
export const CREDENTIAL_ID = /^cred_[A-Za-z0-9_-]{10,64}$/;
