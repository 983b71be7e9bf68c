import { FileSourcePolicy, FileSourceRefusedError } from '#common';
import type { CredentialKind, GrantSettings } from '#core';
import type { CredentialSecrets } from '#grants';
import { InvalidCredentialInputError } from './errors.js';
import { SUPPLIED_TOKEN_FIELDS } from './kinds/fields.js';
import {
  type GrantInput,
  type GrantSettingsContext,
  KIND_DESCRIPTORS,
  kindOf,
  SECRET_FIELDS,
} from './kinds/index.js';

export {
  ACCESS_TOKEN_TYPE,
  DEFAULT_ASSERTION_TTL_SECONDS,
  type GrantInput,
  type GrantSettingsContext,
  JWT_TOKEN_TYPE,
  SECRET_FIELDS,
} from './kinds/index.js';

/** Fields every kind takes that are not grant settings. */
const NOT_GRANT_FIELDS = new Set<string>([
  'name',
  'labels',
  'policy',
  'rotation',
  ...SECRET_FIELDS,
  ...SUPPLIED_TOKEN_FIELDS,
]);

/** Input fields that change a credential's grant settings: every kind's, but secrets and tokens. */
export const GRANT_INPUT_FIELDS: readonly (keyof GrantInput)[] = [
  ...new Set(KIND_DESCRIPTORS.flatMap((d) => Object.keys(d.fields)).filter((f) => !NOT_GRANT_FIELDS.has(f))),
  'timeoutSeconds',
] as (keyof GrantInput)[];

/**
 * Input fields that feed the destination description (destination-binding.ts): all grant fields
 * but those a kind says change what is asked for rather than where it is sent.
 */
const UNBOUND_INPUT_FIELDS = new Set<string>([
  'timeoutSeconds',
  ...KIND_DESCRIPTORS.flatMap((d) => d.unboundFields ?? []),
]);
export const BOUND_INPUT_FIELDS: readonly (keyof GrantInput)[] = GRANT_INPUT_FIELDS.filter(
  (f) => !UNBOUND_INPUT_FIELDS.has(f),
);

/** Fields naming a token file, checked against the file source policy. */
const FILE_SOURCE_FIELDS = [...new Set(KIND_DESCRIPTORS.flatMap((d) => d.fileSourceFields ?? []))];

/**
 * Lexical only (nothing on disk is looked at), before any other check or outbound call: the answer
 * for a path outside the allowed directories is the same whether or not it exists.
 */
function checkFileSources(input: GrantInput, policy: FileSourcePolicy | undefined): void {
  for (const field of FILE_SOURCE_FIELDS) {
    const path = input[field];
    if (typeof path !== 'string') continue;
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
  const settings = await kindOf(kind).settings(input, current, ctx);
  return timeoutMs ? { ...settings, timeoutMs } : settings;
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
export function checkSecrets(
  kind: CredentialKind,
  grant: GrantSettings,
  secrets: CredentialSecrets,
): Promise<void> {
  return kindOf(kind).checkSecrets(grant, secrets);
}
