import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { compactDecrypt, decodeProtectedHeader } from 'jose';
import { type ProblemCode, TokenkeeperError } from '#core';
import { ConfigError } from './config.js';

/** A ciphertext that cannot be used for this credential: unknown key, tampered, or another credential's. */
export class SecretDecryptionError extends TokenkeeperError {
  static override readonly code: ProblemCode = 'SECRET_DECRYPTION_FAILED';
}

/**
 * The ciphertext names a key this process does not have. Not the credential's fault: this process
 * is configured without a key the fleet still needs (another process may well hold it).
 */
export class EncryptionKeyMissingError extends SecretDecryptionError {
  static override readonly code = 'ENCRYPTION_KEY_MISSING' satisfies ProblemCode;
}

interface RingKey {
  kid: string;
  key: Uint8Array;
}

const KID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Encrypts secrets at rest as compact JWE (`dir` + `A256GCM`). The protected header names the key
 * (`kid`), the credential (`cid`) and the field (`fld`): it is authenticated, so a ciphertext
 * moved to another credential or field is refused on decrypt, and readable, so re-encryption can
 * find ciphertexts under an old key without decrypting them.
 */
export class KeyRing {
  private readonly keys: Map<string, RingKey>;
  readonly primaryKid: string;

  constructor(keys: RingKey[], primaryKid?: string) {
    if (keys.length === 0) throw new ConfigError('no encryption key configured (TK_ENCRYPTION_KEYS)');
    this.keys = new Map(keys.map((k) => [k.kid, k]));
    this.primaryKid = primaryKid ?? keys[0]!.kid;
    if (!this.keys.has(this.primaryKid)) {
      throw new ConfigError(`TK_ENCRYPTION_PRIMARY names unknown key id "${this.primaryKid}"`);
    }
  }

  /** Parses `kid:base64url[,kid:base64url…]`; the first key is primary unless one is named. */
  static parse(spec: string, primaryKid?: string): KeyRing {
    const keys = spec
      .split(/[\s,]+/)
      .filter(Boolean)
      .map((entry, i) => {
        const sep = entry.indexOf(':');
        if (sep < 1)
          throw new ConfigError(`TK_ENCRYPTION_KEYS entry ${i + 1} must look like kid:base64url-key`);
        const kid = entry.slice(0, sep);
        if (!KID.test(kid))
          throw new ConfigError(`TK_ENCRYPTION_KEYS entry ${i + 1}: key id "${kid}" is not [A-Za-z0-9_-]`);
        const key = Buffer.from(entry.slice(sep + 1), 'base64url');
        if (key.length !== 32) {
          throw new ConfigError(
            `TK_ENCRYPTION_KEYS key "${kid}" must be 32 bytes (base64url), got ${key.length}`,
          );
        }
        return { kid, key: new Uint8Array(key) };
      });
    return new KeyRing(keys, primaryKid);
  }

  /**
   * Builds the ring from configuration. In development mode with no key configured, generates one
   * and keeps it in `<dataDir>/encryption-keys` so restarts can still read what was written.
   */
  static fromConfig(
    cfg: { keys?: string; keysFile?: string; primary?: string },
    dev: { devMode: boolean; dataDir: string },
  ): KeyRing {
    if (cfg.keys) return KeyRing.parse(cfg.keys, cfg.primary);
    if (cfg.keysFile) {
      if (!existsSync(cfg.keysFile))
        throw new ConfigError(`TK_ENCRYPTION_KEYS_FILE ${cfg.keysFile} does not exist`);
      return KeyRing.parse(readFileSync(cfg.keysFile, 'utf8'), cfg.primary);
    }
    if (!dev.devMode) {
      throw new ConfigError(
        "no encryption key: set TK_ENCRYPTION_KEYS (generate one with `node -e \"console.log('k1:'+require('crypto').randomBytes(32).toString('base64url'))\"`) or TK_DEV_MODE=1 for a local key",
      );
    }
    const file = join(dev.dataDir, 'encryption-keys');
    if (!existsSync(file)) {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, `dev1:${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
    }
    return KeyRing.parse(readFileSync(file, 'utf8'), cfg.primary);
  }

  /** The configured key ids, primary first. */
  get keyIds(): string[] {
    return [this.primaryKid, ...[...this.keys.keys()].filter((k) => k !== this.primaryKid)];
  }

  has(kid: string): boolean {
    return this.keys.has(kid);
  }

  /**
   * Compact JWE `dir` + `A256GCM` (RFC 7516), made with node:crypto directly: the same bytes jose
   * would produce, without WebCrypto's per-call key import and thread-pool round trip (the largest
   * CPU cost of a refresh in the profile, docs/performance.md).
   */
  async encrypt(plaintext: string, credentialId: string, field: string): Promise<string> {
    const { kid, key } = this.keys.get(this.primaryKid)!;
    const header = Buffer.from(
      JSON.stringify({ alg: 'dir', enc: 'A256GCM', kid, cid: credentialId, fld: field }),
    ).toString('base64url');
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(header, 'ascii'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return `${header}..${iv.toString('base64url')}.${ciphertext.toString('base64url')}.${tag.toString('base64url')}`;
  }

  async decrypt(jwe: string, credentialId: string, field: string): Promise<string> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(jwe);
    } catch {
      throw new SecretDecryptionError(
        `the stored ${field} of credential ${credentialId} is not a valid ciphertext`,
      );
    }
    const ringKey = typeof header.kid === 'string' ? this.keys.get(header.kid) : undefined;
    if (!ringKey) {
      throw new EncryptionKeyMissingError(
        `the stored ${field} of credential ${credentialId} uses key "${String(header.kid)}", which this process is not configured with`,
      );
    }
    if (header.cid !== credentialId || header.fld !== field) {
      throw new SecretDecryptionError(
        `the stored ${field} of credential ${credentialId} belongs to another credential or field`,
      );
    }
    try {
      const parts = jwe.split('.');
      // Plain dir + A256GCM (what encrypt writes): node:crypto; anything else jose checks in full.
      if (
        parts.length === 5 &&
        parts[1] === '' &&
        header.alg === 'dir' &&
        header.enc === 'A256GCM' &&
        header.zip === undefined &&
        header.crit === undefined
      ) {
        const iv = Buffer.from(parts[2]!, 'base64url');
        const tag = Buffer.from(parts[4]!, 'base64url');
        if (iv.length !== 12 || tag.length !== 16) throw new Error('bad iv or tag');
        const decipher = createDecipheriv('aes-256-gcm', ringKey.key, iv, { authTagLength: 16 });
        decipher.setAAD(Buffer.from(parts[0]!, 'ascii'));
        decipher.setAuthTag(tag);
        const out = Buffer.concat([decipher.update(Buffer.from(parts[3]!, 'base64url')), decipher.final()]);
        return out.toString('utf8');
      }
      const { plaintext } = await compactDecrypt(jwe, ringKey.key);
      return new TextDecoder().decode(plaintext);
    } catch {
      throw new SecretDecryptionError(
        `the stored ${field} of credential ${credentialId} failed authentication`,
      );
    }
  }

  /** The key id a ciphertext was made with, read from its header without decrypting. */
  static keyIdOf(jwe: string): string | undefined {
    try {
      const kid = decodeProtectedHeader(jwe).kid;
      return typeof kid === 'string' ? kid : undefined;
    } catch {
      return undefined;
    }
  }
}
