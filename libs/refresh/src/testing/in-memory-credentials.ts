import {
  applyEvent,
  type CredentialEvent,
  type CredentialProjection,
  type NewEvent,
  type RefreshTrigger,
} from '#core';
import type { CredentialSecrets } from '#grants';
import {
  type AppendOptions,
  type AttemptRecord,
  FencedError,
  type Lease,
  type LeaseRead,
  RevisionConflictError,
  type StoredCredential,
  type StoredEvent,
} from '#store';
import type {
  CiphertextStorePort,
  Clock,
  CredentialSchedulerPort,
  CredentialStorePort,
  RefreshLeasePort,
} from '../ports.js';
import { ExpiringLocks } from './expiring-locks.js';

interface Row {
  projection: CredentialProjection;
  secrets?: string;
  token?: string;
  attempt?: AttemptRecord;
  attemptOwner?: string;
}

/**
 * The credential store and the refresh lease in memory, with the semantics of the Redis scripts:
 * revision-checked appends fenced by the attempt record's owner (or, without one, the lease's),
 * leases that lapse by the clock, write-ahead attempt records.
 */
export class InMemoryCredentials implements CredentialStorePort, CiphertextStorePort, RefreshLeasePort {
  private readonly rows = new Map<string, Row>();
  private readonly leases: ExpiringLocks;
  readonly histories = new Map<string, CredentialEvent[]>();
  /** The next this-many appends fail as if Redis refused them. */
  failAppends = 0;
  /** Runs before each append is applied (to interleave another writer). */
  beforeAppend?: (id: string) => Promise<void> | void;
  /** Retention asked for each deleted credential, in seconds. */
  readonly expiring = new Map<string, number>();
  readonly keys = { partitions: 1, credential: (id: string) => `cred:${id}` };
  private readonly globals = new Map<string, string>();

  constructor(clock: Clock) {
    this.leases = new ExpiringLocks(clock);
  }

  async get(id: string): Promise<StoredCredential | undefined> {
    const row = this.rows.get(id);
    if (!row) return undefined;
    return {
      projection: structuredClone(row.projection),
      ...(row.secrets ? { secrets: row.secrets } : {}),
      ...(row.token ? { token: row.token } : {}),
    };
  }

  async getProjection(id: string): Promise<CredentialProjection | undefined> {
    return (await this.get(id))?.projection;
  }

  async getMany(ids: string[]): Promise<(CredentialProjection | undefined)[]> {
    return Promise.all(ids.map((id) => this.getProjection(id)));
  }

  /** Every credential id (one partition). */
  async *idsOfPartition(_partition: number, pageSize = 500): AsyncGenerator<string[]> {
    const ids = [...this.rows.keys()].sort();
    for (let i = 0; i < ids.length; i += pageSize) yield ids.slice(i, i + pageSize);
  }

  /** The events appended to a credential, in order. */
  events(id: string): CredentialEvent[] {
    return this.histories.get(id) ?? [];
  }

  async history(id: string, opts: { afterRevision?: number; limit?: number } = {}): Promise<StoredEvent[]> {
    const namespace = this.rows.get(id)?.projection.namespace ?? '';
    return this.events(id)
      .filter((e) => e.revision > (opts.afterRevision ?? 0))
      .slice(0, opts.limit ?? 1000)
      .map((e) => ({ ...structuredClone(e), namespace }));
  }

  /** The hash fields `s` (secrets) and `t` (token) of each credential, as in Redis. */
  async credentialFields(ids: string[], hashFields: string[]): Promise<(string | null)[][]> {
    return ids.map((id) => {
      const row = this.rows.get(id);
      return hashFields.map((f) => (f === 's' ? row?.secrets : f === 't' ? row?.token : undefined) ?? null);
    });
  }

  async replaceFieldIf(key: string, hashField: string, expected: string, next: string): Promise<boolean> {
    const row = this.rows.get(key.replace(/^cred:/, ''));
    const field = hashField === 's' ? 'secrets' : 'token';
    if (!row || row[field] !== expected) return false;
    row[field] = next;
    return true;
  }

  async readGlobal(name: string): Promise<string | undefined> {
    return this.globals.get(name);
  }

  async writeGlobal(name: string, value: string): Promise<void> {
    this.globals.set(name, value);
  }

  async expireCredential(id: string, retentionSeconds: number): Promise<void> {
    this.expiring.set(id, retentionSeconds);
  }

  attemptOf(id: string): AttemptRecord | undefined {
    return this.rows.get(id)?.attempt;
  }

  async append(
    id: string,
    current: CredentialProjection | undefined,
    events: NewEvent[],
    options: AppendOptions = {},
  ): Promise<{ projection: CredentialProjection }> {
    const hook = this.beforeAppend;
    this.beforeAppend = undefined;
    await hook?.(id);
    if (this.failAppends > 0) {
      this.failAppends -= 1;
      throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
    }
    const row = this.rows.get(id);
    if (options.fence) {
      const owner = row?.attemptOwner ?? this.leaseOwner(id);
      if (owner !== options.fence.owner) throw new FencedError(id);
    }
    const expected = current?.revision ?? 0;
    const actual = row?.projection.revision ?? 0;
    if (actual !== expected) throw new RevisionConflictError(id, expected, actual);
    let projection = row?.projection;
    const history = this.histories.get(id) ?? [];
    for (const [i, e] of events.entries()) {
      const event = { ...e, credentialId: id, revision: expected + i + 1 } as CredentialEvent;
      projection = applyEvent(projection, event);
      history.push(event);
    }
    this.histories.set(id, history);
    const next: Row = { ...(row ?? {}), projection: projection! };
    if (options.secrets !== undefined) {
      if (options.secrets === null) delete next.secrets;
      else next.secrets = options.secrets;
    }
    if (options.token !== undefined) {
      if (options.token === null) delete next.token;
      else next.token = options.token;
    }
    if (options.fence?.clearAttempt) {
      delete next.attempt;
      delete next.attemptOwner;
    }
    this.rows.set(id, next);
    if (options.releaseLease) this.leases.drop(id, options.releaseLease.owner);
    return { projection: structuredClone(projection!) };
  }

  leaseOwner(id: string): string | undefined {
    return this.leases.owner(id);
  }

  /** What a crash could roll Redis back to: `restore` brings it back (leases gone). */
  snapshot(): () => void {
    const rows = structuredClone([...this.rows]);
    const histories = structuredClone([...this.histories]);
    return () => {
      this.rows.clear();
      for (const [k, v] of rows) this.rows.set(k, v);
      this.histories.clear();
      for (const [k, v] of histories) this.histories.set(k, v);
      this.leases.forget();
    };
  }

  /** The holder stalled past its TTL: its lease is gone, whatever its heartbeat would have done. */
  expireLease(id: string): void {
    this.leases.forget(id);
  }

  async acquireAndRead(id: string, ttlMs: number): Promise<LeaseRead> {
    const row = this.rows.get(id);
    if (!row) return { status: 'missing' };
    const owner = this.leases.take(id, ttlMs);
    if (!owner) {
      return {
        status: 'busy',
        projection: structuredClone(row.projection),
        remainingMs: this.leases.remainingMs(id),
      };
    }
    const stored = (await this.get(id))!;
    return {
      status: 'leased',
      lease: { credentialId: id, owner },
      stored: { ...stored, ...(row.attempt ? { attempt: structuredClone(row.attempt) } : {}) },
    };
  }

  async extend(lease: Lease, ttlMs: number): Promise<boolean> {
    return this.leases.renew(lease.credentialId, lease.owner, ttlMs);
  }

  async release(lease: Lease): Promise<boolean> {
    return this.leases.drop(lease.credentialId, lease.owner);
  }

  /** Confirms (and extends) the lease and records the attempt, as `record-attempt-2.lua` does. */
  recordAttempt: RefreshLeasePort['recordAttempt'] = async (lease, revision, record, ttlMs) => {
    const id = lease.credentialId;
    if (this.leaseOwner(id) !== lease.owner) return 'lease_lost';
    const row = this.rows.get(id);
    if (!row || row.projection.revision !== revision) return 'moved';
    this.leases.renew(id, lease.owner, ttlMs);
    row.attempt = structuredClone(record);
    row.attemptOwner = lease.owner;
    return 'recorded';
  };
}

/** Records what would have been enqueued. */
export class RecordingScheduler implements CredentialSchedulerPort {
  readonly scheduled: CredentialProjection[] = [];
  readonly demanded: { p: CredentialProjection; trigger: RefreshTrigger }[] = [];
  readonly cancelled: CredentialProjection[] = [];
  async schedule(p: CredentialProjection): Promise<void> {
    this.scheduled.push(p);
  }
  /** Runs the demanded refresh (as a worker would pick the job up). */
  onDemand?: (p: CredentialProjection) => Promise<unknown>;
  async demand(p: CredentialProjection, trigger: RefreshTrigger): Promise<{ jobId: string }> {
    this.demanded.push({ p, trigger });
    await this.onDemand?.(p);
    return { jobId: `demand:${p.id}:${p.token?.tokenVersion ?? 0}:${p.failures}` };
  }
  async cancel(p: CredentialProjection): Promise<void> {
    this.cancelled.push(p);
  }
}

/** A reversible stand-in for the key ring: what goes in comes out, tagged by field. */
export const plainCipher = {
  async encryptSecrets(_id: string, secrets: CredentialSecrets): Promise<string> {
    return `S:${JSON.stringify(secrets)}`;
  },
  async decryptSecrets(_id: string, jwe: string | undefined): Promise<CredentialSecrets> {
    if (!jwe) return {};
    if (!jwe.startsWith('S:')) throw new Error('not a secrets ciphertext');
    return JSON.parse(jwe.slice(2)) as CredentialSecrets;
  },
  async encryptToken(_id: string, accessToken: string): Promise<string> {
    return `T:${accessToken}`;
  },
  async decryptToken(_id: string, jwe: string): Promise<string> {
    return jwe.slice(2);
  },
};
