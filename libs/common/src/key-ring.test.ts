import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EncryptionKeyMissingError, KeyRing, SecretDecryptionError } from './key-ring.js';

const key = (kid: string) => `${kid}:${randomBytes(32).toString('base64url')}`;

describe('KeyRing', () => {
  const a = key('A');
  const b = key('B');

  it('decrypts with any configured key and encrypts with the primary', async () => {
    const jwe = await KeyRing.parse(a).encrypt('secret', 'cred_1', 'secrets');
    const rotated = KeyRing.parse(`${b},${a}`, 'B');
    expect(await rotated.decrypt(jwe, 'cred_1', 'secrets')).toBe('secret');
    expect(KeyRing.keyIdOf(await rotated.encrypt('secret', 'cred_1', 'secrets'))).toBe('B');
  });

  it('tells a key this process lacks (a deployment fault) from a tampered or moved ciphertext', async () => {
    const jwe = await KeyRing.parse(a).encrypt('secret', 'cred_1', 'secrets');
    const missing = await KeyRing.parse(b)
      .decrypt(jwe, 'cred_1', 'secrets')
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(EncryptionKeyMissingError);
    expect((missing as EncryptionKeyMissingError).code).toBe('ENCRYPTION_KEY_MISSING');

    const moved = await KeyRing.parse(a)
      .decrypt(jwe, 'cred_2', 'secrets')
      .catch((e: unknown) => e);
    expect(moved).toBeInstanceOf(SecretDecryptionError);
    expect((moved as SecretDecryptionError).code).toBe('SECRET_DECRYPTION_FAILED');
  });
});
