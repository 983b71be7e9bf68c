import { timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { AppConfig } from '#common';
import { CONFIG, REDIS } from '#runtime';
import { KeySpace } from '#store';
import { API_KEY_SECRETS, type ApiKeySecrets } from './api-key-secrets.js';
import { ApiKeyStore } from './api-key-store.js';
import { API_KEY_PREFIX, hashApiKey, OPERATOR_NAMESPACE } from './api-keys.js';
import type { Principal } from './principal.js';

const MAX_CACHED = 10_000;
/** Refused records already named in the log (bounded: a flood of bad records cannot flood the log). */
const MAX_WARNED = 1_000;

/**
 * Turns a presented API key into a principal. Verified keys are cached in memory for at most
 * `TK_API_KEY_CACHE_MS` (default 500 ms), so the token read path costs one Redis GET per key per
 * half second, and a revocation reaches every replica within that time without pub/sub.
 * Unknown keys are not cached: a guessed key costs one GET and is refused. A key is found under
 * its HMAC lookup id and its record must carry a valid MAC (see ApiKeyStore).
 */
@Injectable()
export class ApiKeyAuthenticator implements OnModuleInit {
  private readonly logger = new Logger(ApiKeyAuthenticator.name);
  private readonly cache = new Map<string, { principal: Principal; until: number }>();
  private readonly warned = new Set<string>();
  private readonly bootstrapHash: Buffer | undefined;
  readonly store: ApiKeyStore;

  constructor(
    @Inject(REDIS) redis: Redis,
    keys: KeySpace,
    @Inject(CONFIG) private readonly config: AppConfig,
    @Inject(API_KEY_SECRETS) private readonly secrets: ApiKeySecrets,
  ) {
    this.store = new ApiKeyStore(redis, keys, secrets);
    if (secrets.bootstrapAdminKey)
      this.bootstrapHash = Buffer.from(hashApiKey(secrets.bootstrapAdminKey), 'hex');
  }

  async onModuleInit(): Promise<void> {
    if (this.secrets.devAdminKeyFile) {
      this.logger.log({ msg: 'development admin API key is in a file', file: this.secrets.devAdminKeyFile });
    } else if (!this.bootstrapHash) {
      this.logger.warn('no TK_BOOTSTRAP_ADMIN_KEY configured: only keys already in Redis are accepted');
    }
    await this.handleLegacyRecords();
  }

  /**
   * Records of releases before the HMAC are refused. The operator converts them with one start
   * under TK_MIGRATE_API_KEYS=1; until then every boot says how many there are.
   */
  private async handleLegacyRecords(): Promise<void> {
    if (this.config.security.migrateApiKeys) {
      const migrated = await this.store.migrateLegacy();
      this.logger.warn({
        msg: 'converted legacy API key records to HMAC records (TK_MIGRATE_API_KEYS); unset it again',
        count: migrated.length,
        keys: migrated.slice(0, 100).map((r) => ({ id: r.id, namespace: r.namespace, scopes: r.scopes })),
      });
      return;
    }
    const legacy = await this.store.legacyRecords();
    if (legacy.length > 0) {
      this.logger.warn({
        msg: 'legacy API key records (plain SHA-256, no MAC) are refused: start once with TK_MIGRATE_API_KEYS=1 to convert them (docs/operations.md)',
        count: legacy.length,
      });
    }
  }

  async authenticate(presented: string): Promise<Principal | undefined> {
    if (presented.length < 16 || presented.length > 512) return undefined;
    const hash = hashApiKey(presented);
    if (this.bootstrapHash && timingSafeEqual(this.bootstrapHash, Buffer.from(hash, 'hex'))) {
      return { namespace: OPERATOR_NAMESPACE, scopes: ['admin'], keyId: 'bootstrap' };
    }
    if (!presented.startsWith(API_KEY_PREFIX)) return undefined;
    const lookupId = this.store.lookupIdOf(hash);
    const now = Date.now();
    const cached = this.cache.get(lookupId);
    if (cached && cached.until > now) return cached.principal;
    const { record, tampered } = await this.store.findByLookupId(lookupId);
    if (tampered) this.warnTampered(lookupId);
    if (!record || record.revokedAt !== undefined) {
      this.cache.delete(lookupId);
      return undefined;
    }
    const principal: Principal = { namespace: record.namespace, scopes: record.scopes, keyId: record.id };
    if (this.config.security.apiKeyCacheMs > 0) {
      if (this.cache.size >= MAX_CACHED) this.cache.clear();
      this.cache.set(lookupId, { principal, until: now + this.config.security.apiKeyCacheMs });
    }
    return principal;
  }

  /** Drops a revoked key from this replica's cache at once (others expire it within the TTL). */
  forget(lookupId: string): void {
    this.cache.delete(lookupId);
  }

  private warnTampered(lookupId: string): void {
    if (this.warned.has(lookupId) || this.warned.size >= MAX_WARNED) return;
    this.warned.add(lookupId);
    this.logger.warn({
      msg: 'refused an API key whose stored record is not authentic (edited or written outside the api)',
      code: 'API_KEY_RECORD_INVALID',
      record: lookupId.slice(0, 12),
    });
  }
}
