import type { FileSourcePolicy } from '#common';
import type { ClientAuthMethod, JwtTemplate, SigningAlg, TokenSourceSettings } from '#core';
import { InvalidCredentialInputError } from '../errors.js';
import { grants } from './lazy-grants.js';

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

export interface GrantSettingsContext {
  grantTimeoutMs: number;
  fetch?: typeof fetch;
  /** Where token files may be; without it every file source is refused. */
  fileSources?: FileSourcePolicy;
}

/** Lifetime of a jwt-bearer assertion when the credential gives none. */
export const DEFAULT_ASSERTION_TTL_SECONDS = 300;
/** RFC 8693 token types: a credential's token is an access token, a token file holds a JWT. */
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

/** A JWT template from input over the previous one; `claims` are those the kind sets itself. */
export function jwtTemplate(
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
export function tokenSource(
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

/** A private key that signs with `alg` (or the key's own algorithm). */
export async function checkSigningKey(
  kind: string,
  privateKey: string | undefined,
  alg: SigningAlg | undefined,
): Promise<void> {
  if (!privateKey) {
    throw new InvalidCredentialInputError(
      'privateKey',
      `${kind} with these settings signs JWTs: give privateKey`,
    );
  }
  const { GrantConfigurationError, importSigningKey } = await grants();
  try {
    await importSigningKey(privateKey, alg);
  } catch (err) {
    if (err instanceof GrantConfigurationError)
      throw new InvalidCredentialInputError('privateKey', err.message);
    throw err;
  }
}
