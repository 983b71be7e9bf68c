import { FileSourcePolicy, FileSourceRefusedError } from '#common';
import type { CredentialKind, GrantSettings } from '#core';
import type { CredentialSecrets } from '#grants';
import { InvalidCredentialInputError } from './errors.js';
import { type GrantInput, type GrantSettingsContext, KINDS, type KindSet } from './kinds/index.js';

export {
  ACCESS_TOKEN_TYPE,
  DEFAULT_ASSERTION_TTL_SECONDS,
  type GrantInput,
  type GrantSettingsContext,
  JWT_TOKEN_TYPE,
  SECRET_FIELDS,
} from './kinds/index.js';

/**
 * Lexical only (nothing on disk is looked at), before any other check or outbound call: the answer
 * for a path outside the allowed directories is the same whether or not it exists.
 */
function checkFileSources(
  input: GrantInput,
  fields: readonly (keyof GrantInput)[],
  policy: FileSourcePolicy | undefined,
): void {
  for (const field of fields) {
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
  kinds: KindSet = KINDS,
): Promise<GrantSettings> {
  checkFileSources(input, kinds.fileSourceFields, ctx.fileSources);
  const timeoutMs = input.timeoutSeconds !== undefined ? input.timeoutSeconds * 1000 : current?.timeoutMs;
  const settings = await kinds.of(kind).settings(input, current, ctx);
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
  kinds: KindSet = KINDS,
): Promise<void> {
  return kinds.of(kind).checkSecrets(grant, secrets);
}
