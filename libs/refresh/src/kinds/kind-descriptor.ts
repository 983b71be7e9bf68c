import type { z } from 'zod';
import type { GrantSettings, RotationMode } from '#core';
import type { CredentialSecrets, GrantClient, OutboundGrantClientOptions } from '#grants';
import type { GrantInput, GrantSettingsContext } from './grant-input.js';

/**
 * Secret fields several kinds share. A kind may hold secrets of its own besides: it names them in
 * `secrets` and declares them in `fields` with `secret('<name>')`. Values are never echoed.
 */
export const SHARED_SECRET_FIELDS = ['refreshToken', 'clientSecret', 'privateKey'] as const;
/** A shared secret field, or a kind's own. */
export type SecretField = (typeof SHARED_SECRET_FIELDS)[number] | (string & {});

/** A `creds add` / `creds update` flag that sets one body field. */
export interface CliFlag {
  /** As commander takes it: `--client-id <id>`. */
  flag: string;
  /** The body field it sets. */
  field: string;
  help: string;
  /** A secret: the value, `@file` or `-` for stdin. */
  secret?: boolean;
  /** Parsed as an integer. */
  int?: boolean;
  /** Only `creds add` offers it. */
  addOnly?: boolean;
}

/** What a grant client of any kind is built from: clock, outbound fetch, token sources. */
export type GrantClientDeps = OutboundGrantClientOptions;

/**
 * Everything tokenkeeper knows about one credential kind. The API schemas, the OpenAPI document,
 * the CLI flags and hints, the grant client registry and the kind list are derived from these.
 */
export interface KindDescriptor<K extends string = string, F extends z.ZodRawShape = z.ZodRawShape> {
  kind: K;
  /**
   * Where the kind comes in the lists the API schema, the OpenAPI document and the CLI show (lower
   * first; equal orders by kind name).
   */
  order: number;
  /** Registration body fields besides `kind` and the fields every kind takes (name, labels, policy…). */
  fields: F;
  /**
   * Fields whose PATCH schema differs from the registration one (a PATCH does not name the kind,
   * so its schema holds every kind's fields: the later kind's wins, unless overridden here).
   */
  updateFields?: z.ZodRawShape;
  /**
   * Settings fields that change what is asked for rather than where the secrets (or tokens, or
   * signed JWTs) go: left out of the destination the secrets are bound to (docs/security.md).
   */
  unboundFields?: readonly (keyof GrantInput)[];
  /** Fields naming a token file, checked against the file source policy before anything else. */
  fileSourceFields?: readonly (keyof GrantInput)[];
  /**
   * The secrets a credential of this kind may hold: shared ones (SHARED_SECRET_FIELDS) or its own,
   * each declared in `fields` with `secret('<name>')`. Stored only in the encrypted secrets, given to
   * the grant client as `request.secrets[name]`, redacted from logs, asked again when the
   * credential's destination moves.
   */
  secrets: readonly SecretField[];
  /** Rotation assumed when the credential names neither a mode nor a provider. */
  rotation: RotationMode;
  /** Performs the grant; absent: the kind's tokens are imported (PATCH), never refreshed. */
  grantClient?: (deps: GrantClientDeps) => GrantClient;
  /** The non-secret settings from API input, over the current ones on an update. */
  settings(
    input: GrantInput,
    current: GrantSettings | undefined,
    ctx: GrantSettingsContext,
  ): Promise<GrantSettings>;
  /** Throws InvalidCredentialInputError when the secrets cannot serve these settings. */
  checkSecrets(grant: GrantSettings, secrets: CredentialSecrets): Promise<void>;
  /** `issuer` is a URL tokenkeeper calls (discovery) rather than a claim. */
  issuerIsUrl?: boolean;
  /** Tokens are JWTs tokenkeeper signs itself: their lifetime is exact (no provider clock skew). */
  exactLifetime?: boolean;
  cli: {
    /** Flags this kind's fields need (shared flags are declared once per field). */
    flags: readonly CliFlag[];
    /** The `creds update` arguments that give a credential of this kind new secrets. */
    reauth: string;
  };
}

/** Identity, for inference: `export default defineKind({...})`. */
export function defineKind<const K extends string, F extends z.ZodRawShape>(
  d: KindDescriptor<K, F>,
): KindDescriptor<K, F> {
  return d;
}
