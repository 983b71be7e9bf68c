import { z } from 'zod';
import { CREDENTIAL_STATES, MAX_GRACE_SECONDS, ROTATION_MODES, ROTATION_PROVIDERS } from '#core';
import { EVERY_KIND_FIELDS, findKind, KIND_DESCRIPTORS, type KindDescriptor } from '#kinds';
import type { RegisterCredentialInput, UpdateCredentialInput } from '#refresh';

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

/** How the provider treats a refresh token presented again after its answer was lost. */
export const rotationSchema = z
  .object({
    mode: z.enum(ROTATION_MODES).optional(),
    graceSeconds: z.number().int().min(0).max(MAX_GRACE_SECONDS).optional(),
    provider: z.enum(ROTATION_PROVIDERS).optional(),
  })
  .strict()
  .refine((r) => r.graceSeconds === undefined || r.mode === undefined || r.mode === 'grace', {
    message: 'graceSeconds applies to mode "grace" only',
    path: ['graceSeconds'],
  });

/** Fields every kind takes. */
const commonFields = {
  name: z.string().min(1).max(200).optional(),
  labels: labels.optional(),
  policy: policySchema.optional(),
  rotation: rotationSchema.optional(),
  timeoutSeconds: z.number().min(0.1).max(60).optional(),
} satisfies Record<(typeof EVERY_KIND_FIELDS)[number], z.ZodType>;

/** A registration body as the service takes it (the schema checks each kind's own fields). */
export type RegisterCredentialBody = Omit<RegisterCredentialInput, 'namespace' | 'canReadTokens'>;
/** A PATCH body: any kind's fields, the service rejects those the credential's kind cannot use. */
export type UpdateCredentialBody = Omit<UpdateCredentialInput, 'canReadTokens'>;

/**
 * The registration and update schemas of these kinds. Registration: one strict object per kind,
 * chosen by `kind`, so a field another kind takes is an unknown field there and every error names
 * its field. Update: every field any kind takes, all optional (a PATCH does not name the kind); the
 * service rejects those the credential's kind cannot use.
 */
export function credentialSchemasOf(descriptors: readonly KindDescriptor[]): {
  register: z.ZodType<RegisterCredentialBody>;
  update: z.ZodType<UpdateCredentialBody>;
} {
  const [first, ...rest] = descriptors.map((d) =>
    z.object({ kind: z.literal(d.kind), ...commonFields, ...d.fields }).strict(),
  );
  if (!first) throw new Error('no credential kinds: the kind catalog is empty');
  const register = z.discriminatedUnion('kind', [first, ...rest]);
  const fields: Record<string, z.ZodType> = {};
  for (const d of descriptors)
    for (const [name, schema] of Object.entries(d.fields)) fields[name] = (schema as z.ZodType).optional();
  for (const d of descriptors) Object.assign(fields, d.updateFields);
  const update = z
    .object({ ...commonFields, ...fields })
    .strict()
    .refine((b) => Object.keys(b).length > 0, 'the body changes nothing: give at least one field');
  return {
    register: register as unknown as z.ZodType<RegisterCredentialBody>,
    update: update as unknown as z.ZodType<UpdateCredentialBody>,
  };
}

const schemas = credentialSchemasOf(KIND_DESCRIPTORS);
export const registerCredentialSchema = schemas.register;
export const updateCredentialSchema = schemas.update;

/**
 * The URLs a body asks tokenkeeper to call, for the outbound policy. `issuer` is one only for the
 * OAuth kinds (for `jwt.mint` it is the `iss` claim); on an update, where the kind is not in the
 * body, only when it is an http(s) URL.
 */
export function outboundUrlsOf(body: {
  kind?: string;
  tokenEndpoint?: string | undefined;
  issuer?: string | undefined;
  vaultAddr?: string | undefined;
}): { tokenEndpoint?: string; issuer?: string; vaultAddr?: string } {
  const issuerIsUrl =
    body.issuer !== undefined &&
    (body.kind === undefined ? /^https?:\/\//i.test(body.issuer) : findKind(body.kind)?.issuerIsUrl === true);
  return {
    ...(body.tokenEndpoint !== undefined ? { tokenEndpoint: body.tokenEndpoint } : {}),
    ...(issuerIsUrl ? { issuer: body.issuer } : {}),
    ...(body.vaultAddr !== undefined ? { vaultAddr: body.vaultAddr } : {}),
  };
}

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
