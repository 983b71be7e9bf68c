import { CompactEncrypt, compactDecrypt } from 'jose';
import { expect, it } from 'vitest';
import { KeyRing } from './key-ring.js';

it('native JWE interoperates with jose both ways', async () => {
  const key = new Uint8Array(32).fill(5);
  const ring = new KeyRing([{ kid: 'k1', key }]);
  const jwe = await ring.encrypt('héllo token', 'cred_1', 't');
  expect(new TextDecoder().decode((await compactDecrypt(jwe, key)).plaintext)).toBe('héllo token');
  const j2 = await new CompactEncrypt(new TextEncoder().encode('from jose'))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: 'k1', cid: 'cred_1', fld: 't' })
    .encrypt(key);
  expect(await ring.decrypt(j2, 'cred_1', 't')).toBe('from jose');
  const bad = jwe.slice(0, -3) + (jwe.endsWith('AAA') ? 'BBB' : 'AAA');
  await expect(ring.decrypt(bad, 'cred_1', 't')).rejects.toThrow(/authentication/);
});
