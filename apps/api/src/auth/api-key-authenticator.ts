import { timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { AppConfig } from '#common';
import { CONFIG, REDIS } from '#runtime';
import { KeySpace } from '#store';
import { ApiKeyStore } from './api-key-store.js';
import { API_KEY_PREFIX, generateApiKey, hashApiKey, OPERATOR_NAMESPACE } from './api-keys.js';
import type { Principal } from './principal.js';

const MAX_CACHED = 10_000;

/**
 * Turns a presented API key into a principal. Verified keys are cached in memory for at most
 * `TK_API_KEY_CACHE_MS` (default 500 ms), so the token read path costs one Redis GET per key per
 * half second, and a revocation reaches every replica within that time without pub/sub.
 * Unknown keys are not cached: a guessed key costs one GET and is refused.
 */
@Injectable()
export class ApiKeyAuthenticator implements OnModuleInit {
  private readonly logger = new Logger(ApiKeyAuthenticator.name);
  private readonly cache = new Map<string, { principal: Principal; until: number }>();
  private bootstrapHash: Buffer | undefined;
  readonly store: ApiKeyStore;

  constructor(
    @Inject(REDIS) redis: Redis,
    keys: KeySpace,
    @Inject(CONFIG) private readonly config: AppConfig,
  ) {
    this.store = new ApiKeyStore(redis, keys);
  }

  onModuleInit(): void {
    const key = this.config.security.bootstrapAdminKey ?? this.devAdminKey();
    if (key) this.bootstrapHash = Buffer.from(hashApiKey(key), 'hex');
    else this.logger.warn('no TK_BOOTSTRAP_ADMIN_KEY configured: only keys already in Redis are accepted');
  }

  async authenticate(presented: string): Promise<Principal | undefined> {
    if (presented.length < 16 || presented.length > 512) return undefined;
    const hash = hashApiKey(presented);
    if (this.bootstrapHash && timingSafeEqual(this.bootstrapHash, Buffer.from(hash, 'hex'))) {
      return { namespace: OPERATOR_NAMESPACE, scopes: ['admin'], keyId: 'bootstrap' };
    }
    if (!presented.startsWith(API_KEY_PREFIX)) return undefined;
    const now = Date.now();
    const cached = this.cache.get(hash);
    if (cached && cached.until > now) return cached.principal;
    const record = await this.store.findByHash(hash);
    if (!record || record.revokedAt !== undefined) {
      this.cache.delete(hash);
      return undefined;
    }
    const principal: Principal = { namespace: record.namespace, scopes: record.scopes, keyId: record.id };
    if (this.config.security.apiKeyCacheMs > 0) {
      if (this.cache.size >= MAX_CACHED) this.cache.clear();
      this.cache.set(hash, { principal, until: now + this.config.security.apiKeyCacheMs });
    }
    return principal;
  }

  /** Drops a revoked key from this replica's cache at once (others expire it within the TTL). */
  forget(keyHash: string): void {
    this.cache.delete(keyHash);
  }

  /**
   * Development only: an admin key generated on first start and kept in `<TK_DATA_DIR>/admin-key`
   * (mode 0600). The log names the file, never the key.
   */
  private devAdminKey(): string | undefined {
    if (!this.config.devMode) return undefined;
    const file = resolve(join(this.config.dataDir, 'admin-key'));
    if (!existsSync(file)) {
      mkdirSync(this.config.dataDir, { recursive: true });
      const key = generateApiKey();
      try {
        writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
        // Shown once, on the terminal of the developer who started it; never through the logger.
        process.stderr.write(`\ntokenkeeper dev admin API key (also in ${file}):\n  ${key}\n\n`);
      } catch (err) {
        // Another process created it first: read theirs below.
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    this.logger.log({ msg: 'development admin API key is in a file', file });
    return readFileSync(file, 'utf8').trim();
  }
}
