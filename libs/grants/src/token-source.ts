import { open } from 'node:fs/promises';
import type { TokenSourceSettings } from '#core';
import {
  type CredentialTokenReader,
  GrantConfigurationError,
  GrantError,
  type GrantRequest,
} from './grant-client.js';

/** Largest token file read; a JWT-SVID is a few KiB. */
const MAX_TOKEN_FILE_BYTES = 64 * 1024;

/**
 * Reads the token a grant consumes (a subject token, a JWT to log in with) from its source.
 * A missing, empty or unreadable file is transient: whatever writes it (spiffe-helper, an agent)
 * may simply not have written it yet, or be between a write and its rename.
 */
export async function readSourceToken(
  source: TokenSourceSettings,
  request: GrantRequest,
  reader: CredentialTokenReader | undefined,
): Promise<string> {
  if ('file' in source) return readTokenFile(source.file);
  if (!reader) throw new GrantConfigurationError('no credential token reader is wired for this process');
  if (!request.namespace) throw new GrantConfigurationError('the grant request names no namespace');
  if (source.credentialId === request.credentialId) {
    throw new GrantConfigurationError('a credential cannot take its token source from itself');
  }
  return reader.currentToken(request.namespace, source.credentialId);
}

async function readTokenFile(path: string): Promise<string> {
  let text: string;
  try {
    const handle = await open(path, 'r');
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
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw sourceError(`token file ${path} cannot be read (${code})`);
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
