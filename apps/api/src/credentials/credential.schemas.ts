import { z } from 'zod';
import {
  CLIENT_AUTH_METHODS,
  CREDENTIAL_STATES,
  type CredentialKind,
  MAX_GRACE_SECONDS,
  ROTATION_MODES,
  ROTATION_PROVIDERS,
  SIGNING_ALGS,
} from '#core';
import { jsonDepthExceeds } from '../http/json-only.js';

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

const positiveSeconds = (max: number) => z.number().int().positive().max(max);
/** How deeply `claims` may nest objects and arrays (the body as a whole may nest 32). */
const MAX_CLAIMS_DEPTH = 16;
const claims = z
  .record(z.string().min(1).max(256), z.unknown())
  .refine((c) => JSON.stringify(c).length <= 16_384, 'claims must serialise to at most 16 KiB')
  .refine(
    (c) => !jsonDepthExceeds(JSON.stringify(c), MAX_CLAIMS_DEPTH),
    `claims must not nest objects or arrays deeper than ${MAX_CLAIMS_DEPTH} levels`,
  );
const filePath = z
  .string()
  .min(1)
  .max(4096)
  .refine((v) => v.startsWith('/'), 'must be an absolute path');
const credentialRef = z.string().regex(/^cred_[A-Za-z0-9_-]{10,64}$/, 'must be a credential id (cred_...)');
const tokenTypeUri = z.string().min(1).max(512);

/** Fields every kind takes. */
const commonFields = {
  name: z.string().min(1).max(200).optional(),
  labels: labels.optional(),
  policy: policySchema.optional(),
  rotation: rotationSchema.optional(),
  timeoutSeconds: z.number().min(0.1).max(60).optional(),
};

/** A token the caller already holds (any kind), or the token a `static` credential tracks. */
const suppliedTokenFields = {
  accessToken: secret('accessToken').optional(),
  expiresIn: positiveSeconds(10 * 365 * 86_400).optional(),
  expiresAt: z.iso
    .datetime({ offset: true })
    .transform((v) => Date.parse(v))
    .optional(),
  tokenType: z.string().min(1).max(64).optional(),
};

/** Fields of the kinds that call an OAuth token endpoint. */
const oauthFields = {
  tokenEndpoint: url.optional(),
  issuer: url.optional(),
  clientId: z.string().min(1).max(512).optional(),
  clientAuth: z.enum(CLIENT_AUTH_METHODS).optional(),
  /** `alg` of the private_key_jwt client assertion (and of a jwt-bearer assertion). */
  signingAlg: z.enum(SIGNING_ALGS).optional(),
  scope: z.string().max(2048).optional(),
  audience: z.string().max(2048).optional(),
  resource: url.optional(),
  clientSecret: secret('clientSecret').optional(),
  privateKey: secret('privateKey').optional(),
};

const jwtBearerFields = {
  subject: z.string().min(1).max(1024).optional(),
  assertionIssuer: z.string().min(1).max(1024).optional(),
  assertionAudience: z.string().min(1).max(2048).optional(),
  ttlSeconds: positiveSeconds(3600).optional(),
  kid: z.string().min(1).max(256).optional(),
  claims: claims.optional(),
};

const tokenExchangeFields = {
  subjectCredentialId: credentialRef.optional(),
  subjectTokenFile: filePath.optional(),
  subjectTokenType: tokenTypeUri.optional(),
  requestedTokenType: tokenTypeUri.optional(),
};

const jwtMintFields = {
  privateKey: secret('privateKey'),
  signingAlg: z.enum(SIGNING_ALGS).optional(),
  kid: z.string().min(1).max(256).optional(),
  ttlSeconds: positiveSeconds(30 * 86_400),
  /** Claims of the minted JWT (not URLs tokenkeeper calls). */
  issuer: z.string().min(1).max(1024).optional(),
  subject: z.string().min(1).max(1024).optional(),
  audience: z
    .union([z.string().min(1).max(1024), z.array(z.string().min(1).max(1024)).min(1).max(16)])
    .optional(),
  claims: claims.optional(),
};

const vaultFields = {
  vaultAddr: url,
  mount: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, 'a Vault auth mount path such as "jwt"')
    .max(256)
    .optional(),
  role: z.string().min(1).max(256),
  jwtFile: filePath.optional(),
  jwtCredentialId: credentialRef.optional(),
  maxTtlSeconds: positiveSeconds(365 * 86_400).optional(),
  vaultNamespace: z.string().min(1).max(256).optional(),
};

const kindSchema = <K extends CredentialKind, F extends z.ZodRawShape>(kind: K, fields: F) =>
  z.object({ kind: z.literal(kind), ...commonFields, ...fields }).strict();

/**
 * One strict object per kind, chosen by `kind`: a field another kind takes is an unknown field
 * here, and every error names its field.
 */
export const registerCredentialSchema = z.discriminatedUnion('kind', [
  kindSchema('oauth2.refresh_token', {
    ...oauthFields,
    ...suppliedTokenFields,
    refreshToken: secret('refreshToken').optional(),
  }),
  kindSchema('oauth2.client_credentials', { ...oauthFields, ...suppliedTokenFields }),
  kindSchema('oauth2.jwt_bearer', { ...oauthFields, ...suppliedTokenFields, ...jwtBearerFields }),
  kindSchema('oauth2.token_exchange', { ...oauthFields, ...suppliedTokenFields, ...tokenExchangeFields }),
  kindSchema('jwt.mint', jwtMintFields),
  kindSchema('vault.jwt_login', vaultFields),
  kindSchema('static', {
    ...suppliedTokenFields,
    accessToken: secret('accessToken'),
    scope: z.string().max(2048).optional(),
  }),
]);
export type RegisterCredentialBody = z.infer<typeof registerCredentialSchema>;

/** Every field any kind takes, all optional; the service rejects those the credential's kind cannot use. */
export const updateCredentialSchema = z
  .object({
    ...commonFields,
    ...oauthFields,
    ...jwtBearerFields,
    ...tokenExchangeFields,
    ...jwtMintFields,
    ...vaultFields,
    ...suppliedTokenFields,
    privateKey: secret('privateKey').optional(),
    ttlSeconds: positiveSeconds(30 * 86_400).optional(),
    issuer: z.string().min(1).max(2048).optional(),
    vaultAddr: url.optional(),
    role: z.string().min(1).max(256).optional(),
    refreshToken: secret('refreshToken').optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'the body changes nothing: give at least one field');
export type UpdateCredentialBody = z.infer<typeof updateCredentialSchema>;

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
    (body.kind === undefined ? /^https?:\/\//i.test(body.issuer) : body.kind.startsWith('oauth2.'));
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
