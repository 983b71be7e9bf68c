import { FileSourcePolicy, FileSourceRefusedError, FileSourceUnavailableError } from '#common';
import type { TokenSourceSettings } from '#core';
import {
  type CredentialTokenReader,
  GrantConfigurationError,
  GrantError,
  type GrantRequest,
} from './grant-client.js';

/** Largest token file read; a JWT-SVID is a few KiB. */
const MAX_TOKEN_FILE_BYTES = 64 * 1024;

/** A process without a policy reads no files at all. */
const NO_FILE_SOURCES = new FileSourcePolicy([]);

/** Where the token a grant consumes may come from. */
export interface TokenSources {
  /** Reads another credential's token. */
  tokens?: CredentialTokenReader | undefined;
  /** The directories token files may be read from (none when absent). */
  fileSources?: FileSourcePolicy | undefined;
}

/**
 * Reads the token a grant consumes (a subject token, a JWT to log in with) from its source.
 * A file the policy refuses (outside the allowed directories, a link leading out, not a regular
 * file) is a permanent FILE_SOURCE_REFUSED failure whose message says nothing about the target.
 * A missing, empty or unreadable file inside an allowed directory is transient: whatever writes it
 * (spiffe-helper, an agent) may simply not have written it yet, or be between a write and its rename.
 */
export async function readSourceToken(
  source: TokenSourceSettings,
  request: GrantRequest,
  sources: TokenSources,
): Promise<string> {
  if ('file' in source) return readTokenFile(source.file, sources.fileSources ?? NO_FILE_SOURCES);
  const reader = sources.tokens;
  if (!reader) throw new GrantConfigurationError('no credential token reader is wired for this process');
  if (!request.namespace) throw new GrantConfigurationError('the grant request names no namespace');
  if (source.credentialId === request.credentialId) {
    throw new GrantConfigurationError('a credential cannot take its token source from itself');
  }
  return reader.currentToken(request.namespace, source.credentialId);
}

async function readTokenFile(path: string, policy: FileSourcePolicy): Promise<string> {
  let text: string;
  try {
    const handle = await policy.open(path);
    try {
      const buffer = Buffer.alloc(MAX_TOKEN_FILE_BYTES + 1);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      if (bytesRead > MAX_TOKEN_FILE_BYTES) throw sourceError(`token file ${path} is larger than 64 KiB`);
      text = buffer.subarray(0, bytesRead).toString('utf8').trim();
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof GrantError) throw err;
    if (err instanceof FileSourceRefusedError) {
      throw new GrantError({
        type: 'classified',
        class: 'permanent',
        code: err.code,
        message: `token file refused: ${err.message}`,
      });
    }
    // Only raised for paths proven inside an allowed directory: naming the errno reveals nothing outside.
    if (err instanceof FileSourceUnavailableError) throw sourceError(err.message);
    throw sourceError(`token file ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'EIO'})`);
  }
  if (!text) throw sourceError(`token file ${path} is empty`);
  return text;
}

function sourceError(message: string): GrantError {
  return new GrantError({
    type: 'classified',
    class: 'transient',
    code: 'TOKEN_SOURCE_UNAVAILABLE',
    message,
  });
}
