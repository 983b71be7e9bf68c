import type { Redis } from 'ioredis';
import type { KeySpace } from '#store';

/** An API key as stored: never the key itself, only its SHA-256. */
export interface ApiKeyRecord {
  id: string;
  name: string;
  namespace: string;
  scopes: string[];
  keyHash: string;
  createdAt: number;
  revokedAt?: number;
}

/**
 * API keys in Redis: `apikey:<sha256>` holds the record (one GET per verification) and the
 * `apikeys` hash maps key id → sha256 for listing and revocation by id.
 */
export class ApiKeyStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: KeySpace,
  ) {}

  private recordKey(hash: string): string {
    return this.keys.global(`apikey:${hash}`);
  }
  private get indexKey(): string {
    return this.keys.global('apikeys');
  }

  async create(record: ApiKeyRecord): Promise<void> {
    await this.redis
      .multi()
      .set(this.recordKey(record.keyHash), JSON.stringify(record))
      .hset(this.indexKey, record.id, record.keyHash)
      .exec();
  }

  async findByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    const raw = await this.redis.get(this.recordKey(hash));
    return raw ? (JSON.parse(raw) as ApiKeyRecord) : undefined;
  }

  async findById(id: string): Promise<ApiKeyRecord | undefined> {
    const hash = await this.redis.hget(this.indexKey, id);
    return hash ? this.findByHash(hash) : undefined;
  }

  async list(): Promise<ApiKeyRecord[]> {
    const hashes = Object.values(await this.redis.hgetall(this.indexKey));
    if (hashes.length === 0) return [];
    const raws = await this.redis.mget(hashes.map((h) => this.recordKey(h)));
    return raws.filter((r): r is string => !!r).map((r) => JSON.parse(r) as ApiKeyRecord);
  }

  /** Marks the key revoked (the record stays, so listings show when). */
  async revoke(record: ApiKeyRecord, at: number): Promise<ApiKeyRecord> {
    const revoked = { ...record, revokedAt: at };
    await this.redis.set(this.recordKey(record.keyHash), JSON.stringify(revoked));
    return revoked;
  }
}
