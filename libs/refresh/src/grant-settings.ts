import { FileSourcePolicy, FileSourceRefusedError } from '#common';
import {
  type ClientAuthMethod,
  type CredentialKind,
  type GrantSettings,
  type JwtTemplate,
  OAUTH_KINDS,
  type SigningAlg,
  type TokenSourceSettings,
} from '#core';
import {
  type CredentialSecrets,
  discoverTokenEndpoint,
  GrantConfigurationError,
  importSigningKey,
  requiresClientSecret,
} from '#grants';
import { InvalidCredentialInputError } from './errors.js';

/** Non-secret settings as the API takes them: flat, each field meaningful for some kinds. */
export interface GrantInput {
  tokenEndpoint?: string;
  /** OAuth kinds: the authorization server (discovery). `jwt.mint`: the `iss` claim. */
  issuer?: string;
  clientId?: string;
  clientAuth?: ClientAuthMethod;
  scope?: string;
  /** OAuth kinds: the `audience` parameter. `jwt.mint`: the `aud` claim (one or several). */
  audience?: string | string[];
  resource?: string;
  timeoutSeconds?: number;
  /** `alg` for everything this credential signs (client assertions, jwt-bearer assertions, minted JWTs). */
  signingAlg?: SigningAlg;
  kid?: string;
  /** `jwt.mint`: lifetime of each JWT; `oauth2.jwt_bearer`: lifetime of each assertion (default 300). */
  ttlSeconds?: number;
  /** `jwt.mint` and `oauth2.jwt_bearer`: the `sub` claim. */
  subject?: string;
  claims?: Record<string, unknown>;
  /** `oauth2.jwt_bearer`: assertion `iss` (default clientId) and `aud` (default the token endpoint). */
  assertionIssuer?: string;
  assertionAudience?: string;
  subjectCredentialId?: string;
  subjectTokenFile?: string;
  subjectTokenType?: string;
  requestedTokenType?: string;
  vaultAddr?: string;
  mount?: string;
  role?: string;
  jwtFile?: string;
  jwtCredentialId?: string;
  maxTtlSeconds?: number;
  vaultNamespace?: string;
}

export const GRANT_INPUT_FIELDS = [
  'tokenEndpoint',
  'issuer',
  'clientId',
  'clientAuth',
  'scope',
  'audience',
  'resource',
  'timeoutSeconds',
  'signingAlg',
  'kid',
  'ttlSeconds',
  'subject',
  'claims',
  'assertionIssuer',
  'assertionAudience',
  'subjectCredentialId',
  'subjectTokenFile',
  'subjectTokenType',
  'requestedTokenType',
  'vaultAddr',
  'mount',
  'role',
  'jwtFile',
  'jwtCredentialId',
  'maxTtlSeconds',
  'vaultNamespace',
] as const satisfies readonly (keyof GrantInput)[];

/** Input fields that feed the destination description (destination-binding.ts). */
export const BOUND_INPUT_FIELDS = [
  'tokenEndpoint',
  'issuer',
  'clientId',
  'clientAuth',
  'audience',
  'resource',
  'signingAlg',
  'kid',
  'ttlSeconds',
  'subject',
  'claims',
  'assertionIssuer',
  'assertionAudience',
  'subjectCredentialId',
  'subjectTokenFile',
  'vaultAddr',
  'mount',
  'role',
  'jwtFile',
  'jwtCredentialId',
  'vaultNamespace',
] as const satisfies readonly (typeof GRANT_INPUT_FIELDS)[number][];

export const DEFAULT_ASSERTION_TTL_SECONDS = 300;
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

/** Secret fields a request may set; values are never echoed. */
export const SECRET_FIELDS = ['refreshToken', 'clientSecret', 'privateKey'] as const;

export interface GrantSettingsContext {
  grantTimeoutMs: number;
  fetch?: typeof fetch;
  /** Where token files may be; without it every file source is refused. */
  fileSources?: FileSourcePolicy;
}

/** Fields naming a token file, checked against the file source policy. */
const FILE_SOURCE_FIELDS = ['jwtFile', 'subjectTokenFile'] as const;

/**
 * Lexical only (nothing on disk is looked at), before any other check or outbound call: the answer
 * for a path outside the allowed directories is the same whether or not it exists.
 */
function checkFileSources(input: GrantInput, policy: FileSourcePolicy | undefined): void {
  for (const field of FILE_SOURCE_FIELDS) {
    const path = input[field];
    if (path === undefined) continue;
    try {
      (policy ?? NO_FILE_SOURCES).check(path);
    } catch (err) {
      if (err instanceof FileSourceRefusedError) throw new InvalidCredentialInputError(field, err.message);
      throw err;
    }
  }
}

const NO_FILE_SOURCES = new FileSourcePolicy([]);

/**
 * Builds the settings of one kind from API input, over the current settings on an update. Throws
 * InvalidCredentialInputError naming the field to fix.
 */
export async function buildGrantSettings(
  kind: CredentialKind,
  input: GrantInput,
  current: GrantSettings | undefined,
  ctx: GrantSettingsContext,
): Promise<GrantSettings> {
  checkFileSources(input, ctx.fileSources);
  const timeoutMs = input.timeoutSeconds !== undefined ? input.timeoutSeconds * 1000 : current?.timeoutMs;
  const common = timeoutMs ? { timeoutMs } : {};
  if (OAUTH_KINDS.has(kind)) return { ...(await oauthSettings(kind, input, current, ctx)), ...common };
  switch (kind) {
    case 'jwt.mint': {
      const prev = current?.mint;
      const ttlSeconds = input.ttlSeconds ?? prev?.ttlSeconds;
      if (ttlSeconds === undefined)
        throw new InvalidCredentialInputError('ttlSeconds', 'jwt.mint needs ttlSeconds');
      const mint = template(input, prev, ttlSeconds, {
        issuer: input.issuer ?? prev?.issuer,
        subject: input.subject ?? prev?.subject,
        audience: input.audience ?? prev?.audience,
      });
      return { clientAuth: 'none', mint, ...common };
    }
    case 'vault.jwt_login': {
      const prev = current?.vault;
      const address = input.vaultAddr ?? prev?.address;
      if (!address) throw new InvalidCredentialInputError('vaultAddr', 'vault.jwt_login needs vaultAddr');
      const role = input.role ?? prev?.role;
      if (!role) throw new InvalidCredentialInputError('role', 'vault.jwt_login needs the Vault role');
      const jwt = source(input.jwtFile, input.jwtCredentialId, prev?.jwt, 'jwtFile', 'jwtCredentialId');
      const maxTtlSeconds = input.maxTtlSeconds ?? prev?.maxTtlSeconds;
      const vaultNamespace = input.vaultNamespace ?? prev?.vaultNamespace;
      return {
        clientAuth: 'none',
        vault: {
          address: address.replace(/\/+$/, ''),
          mount: (input.mount ?? prev?.mount ?? 'jwt').replace(/^\/+|\/+$/g, ''),
          role,
          jwt,
          ...(maxTtlSeconds !== undefined ? { maxTtlSeconds } : {}),
          ...(vaultNamespace ? { vaultNamespace } : {}),
        },
        ...common,
      };
    }
    default:
      return { clientAuth: 'none', ...common };
  }
}

async function oauthSettings(
  kind: CredentialKind,
  input: GrantInput,
  current: GrantSettings | undefined,
  ctx: GrantSettingsContext,
): Promise<GrantSettings> {
  const issuer = input.issuer ?? current?.issuer;
  let tokenEndpoint = input.tokenEndpoint ?? (input.issuer ? undefined : current?.tokenEndpoint);
  if (!tokenEndpoint && issuer) {
    try {
      tokenEndpoint = await discoverTokenEndpoint(issuer, ctx.grantTimeoutMs, ctx.fetch);
    } catch (err) {
      throw new InvalidCredentialInputError('issuer', (err as Error).message);
    }
  }
  if (!tokenEndpoint)
    throw new InvalidCredentialInputError('tokenEndpoint', 'give tokenEndpoint, or issuer to discover it');
  const clientId = input.clientId ?? current?.clientId;
  const clientAuth = input.clientAuth ?? current?.clientAuth ?? (clientId ? 'client_secret_basic' : 'none');
  if ((kind === 'oauth2.client_credentials' || clientAuth === 'private_key_jwt') && !clientId) {
    throw new InvalidCredentialInputError('clientId', `${kind} with clientAuth ${clientAuth} needs clientId`);
  }
  if (Array.isArray(input.audience)) {
    throw new InvalidCredentialInputError('audience', 'the OAuth audience parameter takes one value');
  }
  const scope = input.scope ?? current?.scope;
  const audience = input.audience ?? current?.audience;
  const resource = input.resource ?? current?.resource;
  const clientAssertionAlg =
    clientAuth === 'private_key_jwt' ? (input.signingAlg ?? current?.clientAssertionAlg) : undefined;
  const settings: GrantSettings = {
    tokenEndpoint,
    clientAuth,
    ...(issuer ? { issuer } : {}),
    ...(clientId ? { clientId } : {}),
    ...(clientAssertionAlg ? { clientAssertionAlg } : {}),
    ...(scope ? { scope } : {}),
    ...(audience ? { audience } : {}),
    ...(resource ? { resource } : {}),
  };
  if (kind === 'oauth2.jwt_bearer') {
    const prev = current?.assertion;
    const assertionIssuer = input.assertionIssuer ?? prev?.issuer ?? clientId;
    if (!assertionIssuer) {
      throw new InvalidCredentialInputError(
        'assertionIssuer',
        'give assertionIssuer or clientId (the assertion `iss`)',
      );
    }
    const ttlSeconds = input.ttlSeconds ?? prev?.ttlSeconds ?? DEFAULT_ASSERTION_TTL_SECONDS;
    settings.assertion = template(input, prev, ttlSeconds, {
      issuer: assertionIssuer,
      subject: input.subject ?? prev?.subject ?? assertionIssuer,
      audience: input.assertionAudience ?? prev?.audience,
    });
  }
  if (kind === 'oauth2.token_exchange') {
    const prev = current?.tokenExchange;
    const subject = source(
      input.subjectTokenFile,
      input.subjectCredentialId,
      prev?.subject,
      'subjectTokenFile',
      'subjectCredentialId',
    );
    // A credential's token is an access token; a file (spiffe-helper, a projected token) holds a JWT.
    const subjectTokenType =
      input.subjectTokenType ??
      prev?.subjectTokenType ??
      ('file' in subject ? JWT_TOKEN_TYPE : ACCESS_TOKEN_TYPE);
    const requestedTokenType = input.requestedTokenType ?? prev?.requestedTokenType;
    settings.tokenExchange = {
      subject,
      subjectTokenType,
      ...(requestedTokenType ? { requestedTokenType } : {}),
    };
  }
  return settings;
}

function template(
  input: GrantInput,
  prev: JwtTemplate | undefined,
  ttlSeconds: number,
  claims: {
    issuer?: string | undefined;
    subject?: string | undefined;
    audience?: string | string[] | undefined;
  },
): JwtTemplate {
  const alg = input.signingAlg ?? prev?.alg;
  const kid = input.kid ?? prev?.kid;
  const extra = input.claims ?? prev?.claims;
  return {
    ttlSeconds,
    ...(alg ? { alg } : {}),
    ...(kid ? { kid } : {}),
    ...(claims.issuer !== undefined ? { issuer: claims.issuer } : {}),
    ...(claims.subject !== undefined ? { subject: claims.subject } : {}),
    ...(claims.audience !== undefined ? { audience: claims.audience } : {}),
    ...(extra ? { claims: extra } : {}),
  };
}

/** Exactly one of a file and a credential; a new one given on update replaces the old one. */
function source(
  file: string | undefined,
  credentialId: string | undefined,
  prev: TokenSourceSettings | undefined,
  fileField: string,
  credentialField: string,
): TokenSourceSettings {
  if (file !== undefined && credentialId !== undefined) {
    throw new InvalidCredentialInputError(fileField, `give ${fileField} or ${credentialField}, not both`);
  }
  if (file !== undefined) return { file };
  if (credentialId !== undefined) return { credentialId };
  if (prev) return prev;
  throw new InvalidCredentialInputError(fileField, `give ${fileField} or ${credentialField}`);
}

/** The credential id a grant reads its token from, if any (checked to exist in the namespace). */
export function sourceCredentialId(grant: GrantSettings): { id: string; field: string } | undefined {
  const exchange = grant.tokenExchange?.subject;
  if (exchange && 'credentialId' in exchange)
    return { id: exchange.credentialId, field: 'subjectCredentialId' };
  const vault = grant.vault?.jwt;
  if (vault && 'credentialId' in vault) return { id: vault.credentialId, field: 'jwtCredentialId' };
  return undefined;
}

/** The secrets a kind and its client authentication need, and a usable private key. */
export async function checkSecrets(
  kind: CredentialKind,
  grant: GrantSettings,
  secrets: CredentialSecrets,
): Promise<void> {
  if (kind === 'oauth2.refresh_token' && !secrets.refreshToken) {
    throw new InvalidCredentialInputError('refreshToken', 'oauth2.refresh_token needs refreshToken');
  }
  if (OAUTH_KINDS.has(kind) && requiresClientSecret(grant.clientAuth) && !secrets.clientSecret) {
    throw new InvalidCredentialInputError(
      'clientSecret',
      `clientAuth ${grant.clientAuth} needs clientSecret`,
    );
  }
  if (kind === 'oauth2.client_credentials' && grant.clientAuth === 'none') {
    throw new InvalidCredentialInputError(
      'clientAuth',
      'oauth2.client_credentials needs a confidential client (client_secret_basic, client_secret_post or private_key_jwt)',
    );
  }
  const signs: [boolean, SigningAlg | undefined][] = [
    [OAUTH_KINDS.has(kind) && grant.clientAuth === 'private_key_jwt', grant.clientAssertionAlg],
    [kind === 'oauth2.jwt_bearer', grant.assertion?.alg],
    [kind === 'jwt.mint', grant.mint?.alg],
  ];
  for (const [needed, alg] of signs) {
    if (!needed) continue;
    if (!secrets.privateKey) {
      throw new InvalidCredentialInputError(
        'privateKey',
        `${kind} with these settings signs JWTs: give privateKey`,
      );
    }
    try {
      await importSigningKey(secrets.privateKey, alg);
    } catch (err) {
      if (err instanceof GrantConfigurationError)
        throw new InvalidCredentialInputError('privateKey', err.message);
      throw err;
    }
  }
}
