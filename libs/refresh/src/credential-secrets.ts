import type { KeyRing } from '#common';
import type { StoredSecrets } from './destination-binding.js';

/** Field names bound into each ciphertext's header (`fld`), next to the credential hash field holding it. */
export const SECRETS_FIELD = 'secrets';
export const TOKEN_FIELD = 'access_token';
export const CIPHERTEXT_FIELDS = [
  { hashField: 's', field: SECRETS_FIELD },
  { hashField: 't', field: TOKEN_FIELD },
] as const;

/** Encrypts and decrypts a credential's two ciphertexts, each bound to the credential and its field. */
export class CredentialCipher {
  constructor(readonly keyRing: KeyRing) {}

  /** `secrets` carries its `destination` (see destination-binding.ts): both are encrypted together. */
  encryptSecrets(credentialId: string, secrets: StoredSecrets): Promise<string> {
    return this.keyRing.encrypt(JSON.stringify(secrets), credentialId, SECRETS_FIELD);
  }

  async decryptSecrets(credentialId: string, jwe: string | undefined): Promise<StoredSecrets> {
    if (!jwe) return {};
    return JSON.parse(await this.keyRing.decrypt(jwe, credentialId, SECRETS_FIELD)) as StoredSecrets;
  }

  encryptToken(credentialId: string, accessToken: string): Promise<string> {
    return this.keyRing.encrypt(accessToken, credentialId, TOKEN_FIELD);
  }

  decryptToken(credentialId: string, jwe: string): Promise<string> {
    return this.keyRing.decrypt(jwe, credentialId, TOKEN_FIELD);
  }
}
