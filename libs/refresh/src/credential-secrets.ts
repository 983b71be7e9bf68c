import type { KeyRing } from '#common';
import type { CredentialSecrets } from '#grants';

const SECRETS_FIELD = 'secrets';
const TOKEN_FIELD = 'access_token';

/** Encrypts and decrypts a credential's two ciphertexts, each bound to the credential and its field. */
export class CredentialCipher {
  constructor(readonly keyRing: KeyRing) {}

  encryptSecrets(credentialId: string, secrets: CredentialSecrets): Promise<string> {
    return this.keyRing.encrypt(JSON.stringify(secrets), credentialId, SECRETS_FIELD);
  }

  async decryptSecrets(credentialId: string, jwe: string | undefined): Promise<CredentialSecrets> {
    if (!jwe) return {};
    return JSON.parse(await this.keyRing.decrypt(jwe, credentialId, SECRETS_FIELD)) as CredentialSecrets;
  }

  encryptToken(credentialId: string, accessToken: string): Promise<string> {
    return this.keyRing.encrypt(accessToken, credentialId, TOKEN_FIELD);
  }

  decryptToken(credentialId: string, jwe: string): Promise<string> {
    return this.keyRing.decrypt(jwe, credentialId, TOKEN_FIELD);
  }
}
