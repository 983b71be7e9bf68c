import { ConfigError, KeyRing, SecretDecryptionError } from '#common';
import type { CiphertextSource, StoredCiphertext } from '#store';
import { CIPHERTEXT_FIELDS, SECRETS_FIELD } from './credential-secrets.js';
import { bindSecrets, type StoredSecrets } from './destination-binding.js';
import { KINDS, type KindSet } from './kinds/index.js';
import { runAsLeader } from './leader.js';
import type { CiphertextStorePort, LeaderLockPort } from './ports.js';

/** Names in the global slot: the latest pass's status, and the lock of the process running one. */
const STATUS = 'reencrypt:status';
const LOCK = 'reencrypt:lock';

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
    private readonly store: CiphertextStorePort,
    private readonly keyRing: KeyRing,
    private readonly leader?: LeaderLockPort,
    /** The kinds whose own settings a legacy ciphertext is bound to: the catalog's, or a test's. */
    private readonly kinds: KindSet = KINDS,
  ) {}

  private readonly sources: CiphertextSource[] = [];

  /** Adds a place whose ciphertexts the census and the re-encryption also cover. */
  addSource(source: CiphertextSource): void {
    this.sources.push(source);
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
    if (!this.leader) throw new TypeError('runIfLeader needs the leader lock');
    return runAsLeader(this.leader, LOCK, 60_000, (renew) =>
      this.run({
        ...options,
        onProgress: (status) => {
          renew();
          options.onProgress?.(status);
        },
      }),
    );
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
    const raw = await this.store.readGlobal(STATUS);
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
    if (await this.store.replaceFieldIf(key, hashField, value, next)) status.rewritten += 1;
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
    return p ? JSON.stringify(bindSecrets(secrets, p.kind, p.grant, this.kinds)) : plaintext;
  }

  /** Visits every ciphertext, a page at a time, with the number of owners (credentials, subscriptions) in the page. */
  private async forEachPage(
    pageSize: number,
    visit: (page: StoredCiphertext[], owners: number) => Promise<void>,
  ): Promise<void> {
    for (let partition = 0; partition < this.store.keys.partitions; partition++) {
      for await (const ids of this.store.idsOfPartition(partition, pageSize)) {
        const results = await this.store.credentialFields(
          ids,
          CIPHERTEXT_FIELDS.map((f) => f.hashField),
        );
        const page: StoredCiphertext[] = [];
        results.forEach((values, i) => {
          if (!values) return;
          CIPHERTEXT_FIELDS.forEach(({ hashField, field }, j) => {
            const value = values[j];
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
    await this.store.writeGlobal(STATUS, JSON.stringify(status));
  }
}
