import { randomBytes } from 'node:crypto';
import { ConfigError, KeyRing, SecretDecryptionError } from '#common';
import { type CredentialStore, defineScripts, type RedisClient, runScript } from '#store';
import { CIPHERTEXT_FIELDS } from './credential-secrets.js';

/** Progress of the latest re-encryption pass, as stored for the admin endpoint. */
export interface ReEncryptionStatus {
  state: 'running' | 'done';
  primaryKeyId: string;
  startedAt: number;
  finishedAt?: number;
  /** Credentials looked at so far. */
  scanned: number;
  /** Ciphertexts rewritten to the primary key. */
  rewritten: number;
  /** Ciphertexts that changed while being rewritten (a refresh wrote a new one: already primary). */
  conflicts: number;
  /** Ciphertexts that cannot be decrypted (tampered, swapped, unknown key): left as they are. */
  failed: number;
  /** Ciphertexts per key id seen by this pass after rewriting (what still needs each key). */
  keyIds: Record<string, number>;
}

export interface ReEncryptionOptions {
  pageSize?: number;
  /** Called after each page (logging). */
  onProgress?: (status: ReEncryptionStatus) => void;
  /** Called for a ciphertext that cannot be decrypted. */
  onFailure?: (credentialId: string, field: string, err: Error) => void;
}

/**
 * Moves every credential's ciphertexts to the key ring's primary key. Each rewrite is a
 * compare-and-set on the hash field, so a refresh that stores a new ciphertext meanwhile wins.
 * Also counts ciphertexts per key id at boot, so a process refuses to start when a key that
 * ciphertexts still need was removed from the configuration.
 */
export class ReEncryption {
  constructor(
    private readonly redis: RedisClient,
    private readonly store: CredentialStore,
    private readonly keyRing: KeyRing,
  ) {
    defineScripts(redis);
  }

  private get statusKey(): string {
    return this.store.keys.global('reencrypt:status');
  }
  private get lockKey(): string {
    return this.store.keys.global('reencrypt:lock');
  }

  /** Ciphertexts per key id across all credentials (reads only the readable JWE headers). */
  async census(pageSize = 500): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    await this.forEachPage(pageSize, async (ids, values) => {
      for (const [i] of ids.entries()) {
        for (const value of values[i]!) {
          if (!value) continue;
          const kid = KeyRing.keyIdOf(value) ?? '(unreadable)';
          counts[kid] = (counts[kid] ?? 0) + 1;
        }
      }
    });
    return counts;
  }

  /**
   * Refuses to start when ciphertexts name a key the ring does not have. A scan at boot rather
   * than counters kept on every write: no write path (refresh, registration, update) has to
   * maintain a tally, and a scan of 100k credentials is 200 pipelined reads, about a second.
   */
  async assertKeysAvailable(): Promise<void> {
    const census = await this.census();
    const missing = Object.entries(census).filter(
      ([kid]) => kid !== '(unreadable)' && !this.keyRing.has(kid),
    );
    if (missing.length > 0) {
      const list = missing.map(([kid, n]) => `"${kid}" (${n} ciphertexts)`).join(', ');
      throw new ConfigError(
        `encryption key ${list} is still needed by ciphertexts in Redis but not configured in TK_ENCRYPTION_KEYS: add it back (not as primary), let the worker re-encrypt to the primary (GET /v1/admin/encryption shows progress), then remove it`,
      );
    }
  }

  /** Runs one pass if no other process is running one; returns its status, or undefined if busy. */
  async runIfLeader(options: ReEncryptionOptions = {}): Promise<ReEncryptionStatus | undefined> {
    const owner = randomBytes(9).toString('base64url');
    const lockMs = 60_000;
    if ((await this.redis.set(this.lockKey, owner, 'PX', lockMs, 'NX')) !== 'OK') return undefined;
    try {
      return await this.run({
        ...options,
        onProgress: (status) => {
          void runScript(this.redis, 'extend-lease-1', [this.lockKey], [owner, lockMs]);
          options.onProgress?.(status);
        },
      });
    } finally {
      await runScript(this.redis, 'release-lease-1', [this.lockKey], [owner]);
    }
  }

  async run(options: ReEncryptionOptions = {}): Promise<ReEncryptionStatus> {
    const primary = this.keyRing.primaryKid;
    const status: ReEncryptionStatus = {
      state: 'running',
      primaryKeyId: primary,
      startedAt: Date.now(),
      scanned: 0,
      rewritten: 0,
      conflicts: 0,
      failed: 0,
      keyIds: {},
    };
    await this.saveStatus(status);
    await this.forEachPage(options.pageSize ?? 200, async (ids, values) => {
      for (const [i, id] of ids.entries()) {
        status.scanned += 1;
        for (const [j, { hashField, field }] of CIPHERTEXT_FIELDS.entries()) {
          const value = values[i]![j];
          if (!value) continue;
          let kid = KeyRing.keyIdOf(value) ?? '(unreadable)';
          if (kid !== primary) kid = await this.rewrite(id, hashField, field, value, status, options);
          status.keyIds[kid] = (status.keyIds[kid] ?? 0) + 1;
        }
      }
      await this.saveStatus(status);
      options.onProgress?.(status);
    });
    status.state = 'done';
    status.finishedAt = Date.now();
    await this.saveStatus(status);
    return status;
  }

  async status(): Promise<ReEncryptionStatus | undefined> {
    const raw = await this.redis.get(this.statusKey);
    return raw ? (JSON.parse(raw) as ReEncryptionStatus) : undefined;
  }

  /** Rewrites one ciphertext; returns the key id the field holds afterwards. */
  private async rewrite(
    id: string,
    hashField: string,
    field: string,
    value: string,
    status: ReEncryptionStatus,
    options: ReEncryptionOptions,
  ): Promise<string> {
    let plaintext: string;
    try {
      plaintext = await this.keyRing.decrypt(value, id, field);
    } catch (err) {
      if (!(err instanceof SecretDecryptionError)) throw err;
      status.failed += 1;
      options.onFailure?.(id, field, err);
      return KeyRing.keyIdOf(value) ?? '(unreadable)';
    }
    const next = await this.keyRing.encrypt(plaintext, id, field);
    const replaced = await runScript<number>(
      this.redis,
      'replace-field-if-1',
      [this.store.keys.credential(id)],
      [hashField, value, next],
    );
    if (replaced === 1) status.rewritten += 1;
    else status.conflicts += 1;
    return this.keyRing.primaryKid;
  }

  private async forEachPage(
    pageSize: number,
    visit: (ids: string[], values: (string | null)[][]) => Promise<void>,
  ): Promise<void> {
    for (let partition = 0; partition < this.store.keys.partitions; partition++) {
      for await (const ids of this.store.idsOfPartition(partition, pageSize)) {
        const pipeline = this.redis.pipeline();
        for (const id of ids)
          pipeline.hmget(this.store.keys.credential(id), ...CIPHERTEXT_FIELDS.map((f) => f.hashField));
        const results = (await pipeline.exec()) ?? [];
        await visit(
          ids,
          results.map(([err, v]) => (err ? [null, null] : (v as (string | null)[]))),
        );
      }
    }
  }

  private async saveStatus(status: ReEncryptionStatus): Promise<void> {
    await this.redis.set(this.statusKey, JSON.stringify(status));
  }
}
