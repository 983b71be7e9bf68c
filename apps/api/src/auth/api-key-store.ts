import type { Redis } from 'ioredis';
import type { KeySpace } from '#store';
import { API_KEY_SCOPES, apiKeyLookupId, apiKeyRecordMac, apiKeyRecordMacValid } from './api-keys.js';

/**
 * An API key as stored: never the key itself. `keyHash` is the lookup id (HMAC under the server
 * key, see `apiKeyLookupId`), `mac` authenticates the record's content under the server key.
 */
export interface ApiKeyRecord {
  v: 2;
  id: string;
  name: string;
  namespace: string;
  scopes: string[];
  keyHash: string;
  createdAt: number;
  revokedAt?: number;
  mac: string;
}

export type UnsealedApiKeyRecord = Omit<ApiKeyRecord, 'v' | 'mac'>;

/** The two keys derived from the server's API-key secret. */
export interface ApiKeyStoreKeys {
  lookupKey: Buffer;
  recordKey: Buffer;
}

const HEX64 = /^[0-9a-f]{64}$/;
const SCOPES: ReadonlySet<string> = new Set(API_KEY_SCOPES);

/** The shape of a stored record, whether or not its MAC holds; undefined for anything else. */
function parseRecord(
  raw: string,
): (Omit<ApiKeyRecord, 'v' | 'mac'> & { v?: unknown; mac?: unknown }) | undefined {
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof r !== 'object' || r === null) return undefined;
  const ok =
    typeof r.id === 'string' &&
    typeof r.name === 'string' &&
    typeof r.namespace === 'string' &&
    Array.isArray(r.scopes) &&
    r.scopes.every((s) => typeof s === 'string' && SCOPES.has(s)) &&
    typeof r.keyHash === 'string' &&
    HEX64.test(r.keyHash) &&
    typeof r.createdAt === 'number' &&
    (r.revokedAt === undefined || typeof r.revokedAt === 'number');
  return ok ? (r as ReturnType<typeof parseRecord>) : undefined;
}

/**
 * API keys in Redis: `apikey:<lookup id>` holds the record (one GET per verification) and the
 * `apikeys` hash maps key id → lookup id for listing and revocation by id. A record is used only
 * when its MAC verifies and it sits under its own lookup id: a record written or edited by
 * anything but this store (a hand-written admin key, a widened scope, a moved namespace, a
 * cleared revocation date) is refused. Records of releases before the HMAC (plain SHA-256 ids, no
 * MAC) are "legacy": refused until converted by `migrateLegacy` (TK_MIGRATE_API_KEYS=1).
 */
export class ApiKeyStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: KeySpace,
    private readonly secrets: ApiKeyStoreKeys,
  ) {}

  private recordKey(lookupId: string): string {
    return this.keys.global(`apikey:${lookupId}`);
  }
  private get indexKey(): string {
    return this.keys.global('apikeys');
  }

  /** The lookup id of a key, from its SHA-256. */
  lookupIdOf(sha256Hex: string): string {
    return apiKeyLookupId(this.secrets.lookupKey, sha256Hex);
  }

  private seal(record: UnsealedApiKeyRecord): ApiKeyRecord {
    return { v: 2, ...record, mac: apiKeyRecordMac(this.secrets.recordKey, record) };
  }

  /** A stored record if it is authentic and stored under `lookupId`; undefined otherwise. */
  private verified(raw: string | null, lookupId: string): ApiKeyRecord | undefined {
    const r = raw ? parseRecord(raw) : undefined;
    if (r?.v !== 2 || typeof r.mac !== 'string' || r.keyHash !== lookupId) return undefined;
    return apiKeyRecordMacValid(this.secrets.recordKey, r, r.mac) ? (r as ApiKeyRecord) : undefined;
  }

  async create(record: UnsealedApiKeyRecord): Promise<ApiKeyRecord> {
    const sealed = this.seal(record);
    await this.redis
      .multi()
      .set(this.recordKey(sealed.keyHash), JSON.stringify(sealed))
      .hset(this.indexKey, sealed.id, sealed.keyHash)
      .exec();
    return sealed;
  }

  /**
   * The record stored under a lookup id. `tampered` when something is stored there that is not
   * an authentic record (the caller refuses the key either way, and may say so in a log).
   */
  async findByLookupId(lookupId: string): Promise<{ record?: ApiKeyRecord; tampered: boolean }> {
    const raw = await this.redis.get(this.recordKey(lookupId));
    const record = this.verified(raw, lookupId);
    return record ? { record, tampered: false } : { tampered: raw !== null };
  }

  async findById(id: string): Promise<ApiKeyRecord | undefined> {
    const lookupId = await this.redis.hget(this.indexKey, id);
    if (!lookupId) return undefined;
    const record = this.verified(await this.redis.get(this.recordKey(lookupId)), lookupId);
    return record?.id === id ? record : undefined;
  }

  /** The authentic records of the index (legacy or edited ones are left out). */
  async list(): Promise<ApiKeyRecord[]> {
    return (await this.indexed())
      .map(({ id, lookupId, raw }) => {
        const record = this.verified(raw, lookupId);
        return record?.id === id ? record : undefined;
      })
      .filter((r): r is ApiKeyRecord => r !== undefined);
  }

  /** Every index entry (key id and lookup id) with its stored record, as stored. */
  private async indexed(): Promise<{ id: string; lookupId: string; raw: string | null }[]> {
    const entries = Object.entries(await this.redis.hgetall(this.indexKey));
    if (entries.length === 0) return [];
    const raws = await this.redis.mget(entries.map(([, lookupId]) => this.recordKey(lookupId)));
    return entries.map(([id, lookupId], i) => ({ id, lookupId, raw: raws[i] ?? null }));
  }

  /** Marks the key revoked (the record stays, so listings show when). */
  async revoke(record: ApiKeyRecord, at: number): Promise<ApiKeyRecord> {
    const { v: _v, mac: _mac, ...content } = record;
    const revoked = this.seal({ ...content, revokedAt: at });
    await this.redis.set(this.recordKey(record.keyHash), JSON.stringify(revoked));
    return revoked;
  }

  /** Index entries whose record has the pre-HMAC shape (a plain SHA-256 id and no MAC). */
  async legacyRecords(): Promise<UnsealedApiKeyRecord[]> {
    return (await this.indexed())
      .map(({ id, lookupId: hash, raw }) => {
        const r = raw ? parseRecord(raw) : undefined;
        if (!r || r.v !== undefined || r.mac !== undefined || r.id !== id || r.keyHash !== hash)
          return undefined;
        const { v: _v, mac: _mac, ...content } = r;
        return content;
      })
      .filter((r): r is UnsealedApiKeyRecord => r !== undefined);
  }

  /**
   * Rewrites every legacy record as an HMAC record (lookup id = HMAC of the stored SHA-256, which
   * is what a presented key maps to), and deletes the old one. Trusts the records it converts: run
   * it once, by the operator, on a Redis no one else could write. Returns what was converted.
   */
  async migrateLegacy(): Promise<UnsealedApiKeyRecord[]> {
    const legacy = await this.legacyRecords();
    for (const old of legacy) {
      const lookupId = this.lookupIdOf(old.keyHash);
      const sealed = this.seal({ ...old, keyHash: lookupId });
      await this.redis
        .multi()
        .set(this.recordKey(lookupId), JSON.stringify(sealed))
        .hset(this.indexKey, old.id, lookupId)
        .del(this.recordKey(old.keyHash))
        .exec();
    }
    return legacy;
  }
}
