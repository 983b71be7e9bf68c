import { type CredentialTokenReader, GrantError } from '#grants';
import type { CredentialCipher } from './credential-secrets.js';
import type { TokenStorePort } from './ports.js';
import { visibleIn } from './visibility.js';

/** Minimum validity a borrowed token must have left; a token about to die is useless to exchange. */
const MIN_REMAINING_MS = 5_000;

/**
 * Reads another credential's current access token for grants that consume one (token exchange,
 * Vault login with a JWT from a credential). Only within the same namespace: a credential in
 * another namespace looks exactly like one that does not exist.
 */
export class StoredCredentialTokenReader implements CredentialTokenReader {
  constructor(
    private readonly store: TokenStorePort,
    private readonly cipher: Pick<CredentialCipher, 'decryptToken'>,
    private readonly now: () => number = Date.now,
  ) {}

  async currentToken(namespace: string, credentialId: string): Promise<string> {
    const stored = await this.store.get(credentialId);
    const p = stored?.projection;
    if (!stored || !visibleIn(p, namespace)) {
      // Permanent: nothing will make a missing source appear except changing this credential.
      throw new GrantError({
        type: 'classified',
        class: 'permanent',
        code: 'TOKEN_SOURCE_NOT_FOUND',
        message: `source credential ${credentialId} does not exist in this namespace`,
      });
    }
    if (!stored.token || !p.token || p.token.expiresAt - this.now() < MIN_REMAINING_MS) {
      // Transient: the source refreshes on its own schedule (or is being re-authorised).
      throw new GrantError({
        type: 'classified',
        class: 'transient',
        code: 'TOKEN_SOURCE_UNAVAILABLE',
        message: `source credential ${credentialId} has no valid token right now (${p.state})`,
      });
    }
    return this.cipher.decryptToken(p.id, stored.token);
  }
}
