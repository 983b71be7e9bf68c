import { type ResolvedRotation, type RotationSettings, resolveRotationOver } from '#core';
import { InvalidCredentialInputError } from '../errors.js';
import jwtMint from './jwt-mint.js';
import type { CliFlag, KindDescriptor } from './kind-descriptor.js';
import oauth2ClientCredentials from './oauth2-client-credentials.js';
import oauth2JwtBearer from './oauth2-jwt-bearer.js';
import oauth2RefreshToken from './oauth2-refresh-token.js';
import oauth2TokenExchange from './oauth2-token-exchange.js';
import staticKind from './static.js';
import vaultJwtLogin from './vault-jwt-login.js';

/**
 * Every credential kind, in the order the API schema, the OpenAPI document and the CLI list them.
 * A new kind is its descriptor file plus its import and its entry here.
 */
export const KIND_DESCRIPTORS = [
  oauth2RefreshToken,
  oauth2ClientCredentials,
  oauth2JwtBearer,
  oauth2TokenExchange,
  jwtMint,
  vaultJwtLogin,
  staticKind,
] as const;

export type KnownKind = (typeof KIND_DESCRIPTORS)[number]['kind'];

/** Credential kinds tokenkeeper knows how to keep fresh. */
export const CREDENTIAL_KINDS: readonly KnownKind[] = KIND_DESCRIPTORS.map((d) => d.kind);

const BY_KIND = new Map<string, KindDescriptor>(KIND_DESCRIPTORS.map((d) => [d.kind, d]));

/** The descriptor of a kind, if tokenkeeper knows it. */
export function findKind(kind: string): KindDescriptor | undefined {
  return BY_KIND.get(kind);
}

/** The descriptor of a kind the API took (its schema names every kind). */
export function kindOf(kind: string): KindDescriptor {
  const d = BY_KIND.get(kind);
  if (!d) throw new InvalidCredentialInputError('kind', `${kind.slice(0, 80)} is not a credential kind`);
  return d;
}

/**
 * The rotation behaviour a refresh assumes: explicit settings win, then the provider's defaults,
 * then the kind's (`strict` for `oauth2.refresh_token`: a rotated token whose answer is lost may be
 * gone; `none` for kinds that present nothing a provider consumes).
 */
export function resolveRotation(kind: string, settings: RotationSettings | undefined): ResolvedRotation {
  return resolveRotationOver(findKind(kind)?.rotation ?? 'none', settings);
}

/** The `creds add` / `creds update` flags of these kinds, each flag once, in the kinds' order. */
export function cliFlagsOf(descriptors: readonly KindDescriptor[] = KIND_DESCRIPTORS): CliFlag[] {
  const byFlag = new Map<string, CliFlag>();
  for (const d of descriptors) for (const f of d.cli.flags) if (!byFlag.has(f.flag)) byFlag.set(f.flag, f);
  return [...byFlag.values()];
}
