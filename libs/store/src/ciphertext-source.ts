/** A ciphertext stored outside a credential's hash (a webhook signing secret, say). */
export interface StoredCiphertext {
  /** Redis hash holding it, and the hash field. */
  key: string;
  hashField: string;
  /** What the ciphertext is bound to (the JWE `cid` and `fld` header values). */
  boundId: string;
  field: string;
  value: string;
}

/** Other places holding ciphertexts under the key ring, paged (re-encryption covers them). */
export interface CiphertextSource {
  ciphertexts(pageSize: number): AsyncGenerator<StoredCiphertext[]>;
}
