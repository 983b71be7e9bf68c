import { randomBytes } from 'node:crypto';
import { ConfigError, KeyRing, SecretDecryptionError } from '#common';
import {
  type CiphertextSource,
  type CredentialStore,
  defineScripts,
  type RedisClient,
  runScript,
  type StoredCiphertext,
} from '#store';
import { CIPHERTEXT_FIELDS, SECRETS_FIELD } from './credential-secrets.js';
import { bindSecrets, type StoredSecrets } from './destination-binding.js';

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

  private readonly sources: CiphertextSource[] = [];

  /** Adds a place whose ciphertexts the census and the re-encryption also cover. */
  addSource(source: CiphertextSource): void {
    this.sources.push(source);
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
    await this.forEachPage(pageSize, async (page) => {
      for (const { value } of page) {
        const kid = KeyRing.keyIdOf(value) ?? '(unreadable)';
        counts[kid] = (counts[kid] ?? 0) + 1;
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
    await this.forEachPage(options.pageSize ?? 200, async (page, owners) => {
      status.scanned += owners;
      for (const ciphertext of page) {
        let kid = KeyRing.keyIdOf(ciphertext.value) ?? '(unreadable)';
        if (kid !== primary) kid = await this.rewrite(ciphertext, status, options);
        status.keyIds[kid] = (status.keyIds[kid] ?? 0) + 1;
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
    { key, hashField, boundId: id, field, value }: StoredCiphertext,
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
    if (field === SECRETS_FIELD && key === this.store.keys.credential(id))
      plaintext = await this.bindLegacy(id, plaintext);
    const next = await this.keyRing.encrypt(plaintext, id, field);
    const replaced = await runScript<number>(
      this.redis,
      'replace-field-if-1',
      [key],
      [hashField, value, next],
    );
    if (replaced === 1) status.rewritten += 1;
    else status.conflicts += 1;
    return this.keyRing.primaryKid;
  }

  /**
   * A secrets plaintext written before destinations were bound gets the credential's current
   * settings, as its first refresh would bind it: rotating the key after an upgrade then leaves no
   * unbound ciphertext (credentials that never refresh, such as those awaiting re-authentication,
   * included), and copies taken before it stop decrypting once the old key is removed.
   */
  private async bindLegacy(id: string, plaintext: string): Promise<string> {
    let secrets: StoredSecrets;
    try {
      secrets = JSON.parse(plaintext) as StoredSecrets;
    } catch {
      return plaintext;
    }
    if (!secrets || typeof secrets !== 'object' || secrets.destination !== undefined) return plaintext;
    const p = await this.store.getProjection(id);
    return p ? JSON.stringify(bindSecrets(secrets, p.kind, p.grant)) : plaintext;
  }

  /** Visits every ciphertext, a page at a time, with the number of owners (credentials, subscriptions) in the page. */
  private async forEachPage(
    pageSize: number,
    visit: (page: StoredCiphertext[], owners: number) => Promise<void>,
  ): Promise<void> {
    for (let partition = 0; partition < this.store.keys.partitions; partition++) {
      for await (const ids of this.store.idsOfPartition(partition, pageSize)) {
        const pipeline = this.redis.pipeline();
        for (const id of ids)
          pipeline.hmget(this.store.keys.credential(id), ...CIPHERTEXT_FIELDS.map((f) => f.hashField));
        const results = (await pipeline.exec()) ?? [];
        const page: StoredCiphertext[] = [];
        results.forEach(([err, values], i) => {
          if (err) return;
          CIPHERTEXT_FIELDS.forEach(({ hashField, field }, j) => {
            const value = (values as (string | null)[])[j];
            if (value)
              page.push({
                key: this.store.keys.credential(ids[i]!),
                hashField,
                boundId: ids[i]!,
                field,
                value,
              });
          });
        });
        await visit(page, ids.length);
      }
    }
    for (const source of this.sources) {
      for await (const page of source.ciphertexts(pageSize)) await visit(page, page.length);
    }
  }

  private async saveStatus(status: ReEncryptionStatus): Promise<void> {
    await this.redis.set(this.statusKey, JSON.stringify(status));
  }
}
