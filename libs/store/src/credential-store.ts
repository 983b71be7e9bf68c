import {
  applyEvent,
  type CredentialEvent,
  type CredentialProjection,
  type CredentialState,
  type NewEvent,
  type ProblemCode,
  TokenkeeperError,
} from '#core';
import type { KeySpace } from './keys.js';
import type { AttemptRecord } from './lease.js';
import { defineScripts, runScript } from './lua-scripts.js';
import type { RedisClient } from './redis-client.js';

/** The credential moved on since it was read; re-read and decide again. */
export class RevisionConflictError extends TokenkeeperError {
  static override readonly code = 'REVISION_CONFLICT' satisfies ProblemCode;
  constructor(
    readonly credentialId: string,
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`credential ${credentialId} is at revision ${actual}, expected ${expected}`);
  }

  override problemFields(): Record<string, unknown> {
    return { detail: 'read it again and retry the change' };
  }
}

/**
 * An event as stored in a history or the feed: the credential's namespace travels with it, and
 * the W3C `traceparent` of the append when tracing is on (ids only), so that the webhook
 * deliveries of the event join the trace of whatever caused it.
 */
export type StoredEvent = CredentialEvent & { namespace: string; traceparent?: string };

export interface FeedEntry {
  /** Stream entry id within its partition. */
  id: string;
  partition: number;
  event: StoredEvent;
}

/** The refresh persisting its outcome no longer owns the credential's attempt record (or lease). */
export class FencedError extends TokenkeeperError {
  static override readonly code = 'REFRESH_FENCED';
  constructor(readonly credentialId: string) {
    super(`another worker took over the refresh of credential ${credentialId}`);
  }
}

export interface StoredCredential {
  projection: CredentialProjection;
  /** The write-ahead record of a refresh request whose outcome is not stored (only read under the lease). */
  attempt?: AttemptRecord;
  /** JWE of the credential's long-lived secrets (refresh token, client secret, ...). */
  secrets?: string;
  /** JWE of the current access token. */
  token?: string;
}

export interface AppendOptions {
  /** New secrets ciphertext; `null` deletes it, absent keeps it. */
  secrets?: string | null;
  /** New access-token ciphertext; `null` deletes it, absent keeps it. */
  token?: string | null;
  index?: 'add' | 'rem' | 'keep';
  /** Releases this refresh lease in the same round trip if the append succeeds (owner-checked). */
  releaseLease?: { owner: string };
  /**
   * A refresh's append: refused (FencedError) unless this owner still holds the credential's
   * attempt record (or, without one, its lease). `clearAttempt` removes the record on success.
   */
  fence?: { owner: string; clearAttempt: boolean };
  /**
   * The append stores a secret that exists nowhere else (a rotated refresh token): wait for the
   * replicas the deployment asks for (`waitReplicas`) before returning.
   */
  durable?: boolean;
}

export interface ListQuery {
  namespace?: string;
  state?: CredentialState;
  labels?: Record<string, string>;
  /** Opaque cursor from a previous page. */
  cursor?: string;
  limit: number;
}

/** What an append is about, for whoever observes appends (ids, types and numbers only). */
export interface AppendInfo {
  credentialId: string;
  eventTypes: string[];
  /** The credential's revision once the append succeeds. */
  revision: number;
}

/**
 * Runs around every append: tracing plugs in here, so the store knows no telemetry. It calls
 * `append` with the W3C `traceparent` to store with the events (or none) and returns its result.
 */
export type AppendHook = <T>(
  info: AppendInfo,
  append: (traceparent: string | undefined) => Promise<T>,
) => Promise<T>;

/** No tracing: events are stored without a `traceparent`. */
export const untracedAppend: AppendHook = (_info, append) => append(undefined);

export interface StoreLimits {
  historyMaxLen: number;
  /** Hard cap on each feed partition's length (approximate trimming). */
  feedMaxLen: number;
  /** Feed entries older than this are trimmed (approximately) on append; 0 or absent: length only. */
  feedRetentionMs?: number;
  /** `WAIT` for this many replicas after a durable append (0: none). */
  waitReplicas?: number;
  waitTimeoutMs?: number;
}

/**
 * Event-sourced credential store on Redis. A credential's projection is `applyEvent` folded over
 * its history; each append writes events, projection, ciphertexts and feed entries in one Lua
 * script guarded by the expected revision.
 */
export class CredentialStore {
  private namespaceIndexBackfilled = false;
  private namespaceIndexCheck: Promise<boolean> | undefined;

  constructor(
    private readonly redis: RedisClient,
    readonly keys: KeySpace,
    private readonly limits: StoreLimits,
    private readonly aroundAppend: AppendHook = untracedAppend,
  ) {
    defineScripts(redis);
  }

  async get(id: string): Promise<StoredCredential | undefined> {
    const [p, s, t] = await this.redis.hmget(this.keys.credential(id), 'p', 's', 't');
    if (!p) return undefined;
    return {
      projection: JSON.parse(p) as CredentialProjection,
      ...(s ? { secrets: s } : {}),
      ...(t ? { token: t } : {}),
    };
  }

  async getProjection(id: string): Promise<CredentialProjection | undefined> {
    const p = await this.redis.hget(this.keys.credential(id), 'p');
    return p ? (JSON.parse(p) as CredentialProjection) : undefined;
  }

  /**
   * Appends events to a credential (new when `current` is undefined) and returns the new
   * projection. Throws RevisionConflictError if someone else appended since `current` was read.
   */
  async append(
    id: string,
    current: CredentialProjection | undefined,
    events: NewEvent[],
    options: AppendOptions = {},
  ): Promise<{ projection: CredentialProjection; events: StoredEvent[] }> {
    return this.aroundAppend(
      {
        credentialId: id,
        eventTypes: events.map((e) => e.type),
        revision: (current?.revision ?? 0) + events.length,
      },
      (traceparent) => this.appendEvents(id, current, events, options, traceparent),
    );
  }

  private async appendEvents(
    id: string,
    current: CredentialProjection | undefined,
    events: NewEvent[],
    options: AppendOptions,
    traceparent: string | undefined,
  ): Promise<{ projection: CredentialProjection; events: StoredEvent[] }> {
    if (events.length === 0) throw new TypeError('append needs at least one event');
    const expected = current?.revision ?? 0;
    let projection = current;
    const stored: StoredEvent[] = [];
    for (const [i, e] of events.entries()) {
      const event = { ...e, credentialId: id, revision: expected + i + 1 } as CredentialEvent;
      projection = applyEvent(projection, event);
      stored.push({ ...event, namespace: projection.namespace, ...(traceparent ? { traceparent } : {}) });
    }
    const fields: string[] = [];
    if (options.secrets !== undefined) fields.push('s', options.secrets ?? '');
    if (options.token !== undefined) fields.push('t', options.token ?? '');
    try {
      await runScript<unknown[]>(
        this.redis,
        'append-events-6',
        [
          this.keys.credential(id),
          this.keys.history(id),
          this.keys.feedOf(id),
          this.keys.indexOf(id),
          this.keys.lease(id),
          this.keys.namespaceIndexOf(id, projection!.namespace),
        ],
        [
          expected,
          JSON.stringify(projection),
          this.limits.historyMaxLen,
          this.limits.feedMaxLen,
          options.index ?? 'keep',
          id,
          options.releaseLease?.owner ?? '',
          this.limits.feedRetentionMs ? `${Date.now() - this.limits.feedRetentionMs}-0` : '',
          options.fence?.owner ?? '',
          options.fence?.clearAttempt ? '1' : '0',
          fields.length / 2,
          ...fields,
          ...stored.flatMap((e) => [compactHistoryEntry(e), JSON.stringify(e)]),
        ],
      );
    } catch (err) {
      const message = String((err as Error).message);
      if (message.includes('FENCED')) throw new FencedError(id);
      const match = /CONFLICT (\d+)/.exec(message);
      if (match) throw new RevisionConflictError(id, expected, Number(match[1]));
      throw err;
    }
    const replicas = this.limits.waitReplicas ?? 0;
    if (options.durable && replicas > 0) {
      // Acknowledged by `replicas` replicas, or the timeout passed: either way the caller keeps
      // the secret it stored until it has seen it stored again (see RefreshService).
      await this.redis.wait(replicas, this.limits.waitTimeoutMs ?? 1_000);
    }
    return { projection: projection!, events: stored };
  }

  /** A credential's history, oldest first, optionally after a revision. */
  async history(id: string, opts: { afterRevision?: number; limit?: number } = {}): Promise<StoredEvent[]> {
    const start = opts.afterRevision !== undefined ? `(${opts.afterRevision}-0` : '-';
    const entries = await this.redis.xrange(this.keys.history(id), start, '+', 'COUNT', opts.limit ?? 1000);
    return entries.map(([entryId, fields]) => expandHistoryEntry(id, entryId, fields[1]!));
  }

  /**
   * Pages through credentials by id; filters apply to the page's projections. With a namespace,
   * only that namespace's index is read (its partitions' `namespaceIndex` sets), so the cost
   * does not depend on how many credentials other namespaces have.
   */
  async list(query: ListQuery): Promise<{ items: CredentialProjection[]; nextCursor?: string }> {
    const { namespace } = query;
    const indexOf =
      namespace !== undefined && (await this.namespaceIndexReady())
        ? (partition: number) => this.keys.namespaceIndex(partition, namespace)
        : (partition: number) => this.keys.index(partition);
    let [partition, after] = decodeCursor(query.cursor);
    const items: CredentialProjection[] = [];
    while (partition < this.keys.partitions && items.length < query.limit) {
      const batch = Math.max(query.limit * 2, 50);
      const ids = await this.redis.zrangebylex(
        indexOf(partition),
        after ? `(${after}` : '-',
        '+',
        'LIMIT',
        0,
        batch,
      );
      if (ids.length === 0) {
        partition += 1;
        after = '';
        continue;
      }
      const projections = await this.getMany(ids);
      for (const [i, p] of projections.entries()) {
        after = ids[i]!;
        if (p && matches(p, query)) items.push(p);
        if (items.length >= query.limit) break;
      }
      if (ids.length < batch && items.length < query.limit) {
        partition += 1;
        after = '';
      }
    }
    const exhausted = partition >= this.keys.partitions;
    return exhausted ? { items } : { items, nextCursor: encodeCursor(partition, after) };
  }

  /**
   * Whether every credential is in its namespace index. Credentials registered before the
   * namespace indexes existed are added once, lazily, by the first listing that finds the marker
   * missing (any process; concurrent runs are harmless, ZADD is idempotent); until the marker is
   * set, listing reads the fleet-wide index as before. Remembered per process once true.
   */
  private async namespaceIndexReady(): Promise<boolean> {
    if (this.namespaceIndexBackfilled) return true;
    // One check (and backfill) at a time per process: concurrent listings wait for it.
    this.namespaceIndexCheck ??= (async () => {
      const marker = this.keys.global(NAMESPACE_INDEX_MARKER);
      return (await this.redis.get(marker)) !== null || (await this.backfillNamespaceIndex());
    })().finally(() => {
      this.namespaceIndexCheck = undefined;
    });
    if (await this.namespaceIndexCheck) this.namespaceIndexBackfilled = true;
    return this.namespaceIndexBackfilled;
  }

  /**
   * Adds every indexed credential to its namespace index, then sets the marker. A credential
   * revoked meanwhile may be left in its namespace index; listing skips revoked and missing
   * credentials anyway. Returns false (listing falls back) if it could not finish.
   */
  async backfillNamespaceIndex(): Promise<boolean> {
    try {
      for (let partition = 0; partition < this.keys.partitions; partition++) {
        for await (const ids of this.idsOfPartition(partition)) {
          const projections = await this.getMany(ids);
          // One partition per pipeline: on a cluster, its keys share one slot.
          const pipeline = this.redis.pipeline();
          for (const [i, p] of projections.entries()) {
            if (p && p.state !== 'revoked')
              pipeline.zadd(this.keys.namespaceIndex(partition, p.namespace), 0, ids[i]!);
          }
          if (pipeline.length > 0) await pipeline.exec();
        }
      }
      await this.redis.set(this.keys.global(NAMESPACE_INDEX_MARKER), String(Date.now()));
      return true;
    } catch {
      return false;
    }
  }

  async getMany(ids: string[]): Promise<(CredentialProjection | undefined)[]> {
    if (ids.length === 0) return [];
    // One pipeline per partition: on a cluster, partitions live on different nodes and a
    // pipeline must stay on one.
    const byPartition = new Map<number, number[]>();
    for (const [i, id] of ids.entries()) {
      const p = this.keys.partitionOf(id);
      const list = byPartition.get(p);
      if (list) list.push(i);
      else byPartition.set(p, [i]);
    }
    const out: (CredentialProjection | undefined)[] = new Array(ids.length);
    await Promise.all(
      [...byPartition.values()].map(async (indexes) => {
        const pipeline = this.redis.pipeline();
        for (const i of indexes) pipeline.hget(this.keys.credential(ids[i]!), 'p');
        const results = (await pipeline.exec()) ?? [];
        results.forEach(([err, value], j) => {
          out[indexes[j]!] =
            err || !value ? undefined : (JSON.parse(value as string) as CredentialProjection);
        });
      }),
    );
    return out;
  }

  /** Every indexed credential id of a partition, in pages (for the sweep and re-encryption). */
  async *idsOfPartition(partition: number, pageSize = 500): AsyncGenerator<string[]> {
    let after = '';
    for (;;) {
      const ids = await this.redis.zrangebylex(
        this.keys.index(partition),
        after ? `(${after}` : '-',
        '+',
        'LIMIT',
        0,
        pageSize,
      );
      if (ids.length === 0) return;
      yield ids;
      after = ids.at(-1)!;
      if (ids.length < pageSize) return;
    }
  }

  /**
   * The values of `hashFields` in each credential's hash, one pipeline for the page (the ids of one
   * partition share a slot); undefined for a read that failed.
   */
  async credentialFields(ids: string[], hashFields: string[]): Promise<((string | null)[] | undefined)[]> {
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hmget(this.keys.credential(id), ...hashFields);
    const results = (await pipeline.exec()) ?? [];
    return ids.map((_, i) => {
      const [err, values] = results[i] ?? [new Error('no reply')];
      return err ? undefined : (values as (string | null)[]);
    });
  }

  /** Sets `hashField` of the hash at `key` to `next` if it still holds `expected`; whether it did. */
  async replaceFieldIf(key: string, hashField: string, expected: string, next: string): Promise<boolean> {
    return (
      (await runScript<number>(this.redis, 'replace-field-if-1', [key], [hashField, expected, next])) === 1
    );
  }

  /** A value in the global slot (status records and the like), by name. */
  async readGlobal(name: string): Promise<string | undefined> {
    return (await this.redis.get(this.keys.global(name))) ?? undefined;
  }

  async writeGlobal(name: string, value: string): Promise<void> {
    await this.redis.set(this.keys.global(name), value);
  }

  /** Removes a revoked credential's data after a retention period, keeping the history readable until then. */
  async expireCredential(id: string, retentionSeconds: number): Promise<void> {
    await this.redis
      .multi()
      .expire(this.keys.credential(id), retentionSeconds)
      .expire(this.keys.history(id), retentionSeconds)
      .exec();
  }
}

/** Set (in the global slot) once every credential registered before namespace indexes is in its own. */
const NAMESPACE_INDEX_MARKER = 'nidx-backfilled';

/**
 * A history entry leaves out what its key and entry id already say: the credential id (the key
 * names it) and the revision (the entry id is `<revision>-0`). The feed keeps the full event.
 */
function compactHistoryEntry(e: StoredEvent): string {
  const { credentialId: _id, revision: _revision, ...rest } = e;
  return JSON.stringify(rest);
}

/** The stored event of a history entry, compact (see above) or full (written before compaction). */
function expandHistoryEntry(credentialId: string, entryId: string, json: string): StoredEvent {
  const e = JSON.parse(json) as Partial<StoredEvent>;
  if (e.credentialId !== undefined) return e as StoredEvent;
  // Field order as appended: type, at, data, credentialId, revision, namespace, traceparent.
  const { namespace, traceparent, ...rest } = e;
  return {
    ...rest,
    credentialId,
    revision: Number(entryId.slice(0, entryId.indexOf('-'))),
    namespace,
    ...(traceparent !== undefined ? { traceparent } : {}),
  } as StoredEvent;
}

function matches(p: CredentialProjection, q: ListQuery): boolean {
  if (p.state === 'revoked') return false;
  if (q.namespace !== undefined && p.namespace !== q.namespace) return false;
  if (q.state !== undefined && p.state !== q.state) return false;
  if (q.labels) {
    for (const [k, v] of Object.entries(q.labels)) if (p.labels[k] !== v) return false;
  }
  return true;
}

function encodeCursor(partition: number, after: string): string {
  return Buffer.from(`${partition}:${after}`).toString('base64url');
}

function decodeCursor(cursor: string | undefined): [number, string] {
  if (!cursor) return [0, ''];
  const raw = Buffer.from(cursor, 'base64url').toString('utf8');
  const sep = raw.indexOf(':');
  const partition = Number(raw.slice(0, sep));
  if (sep < 1 || !Number.isInteger(partition) || partition < 0) throw new InvalidCursorError();
  return [partition, raw.slice(sep + 1)];
}

export class InvalidCursorError extends TokenkeeperError {
  static override readonly code = 'INVALID_CURSOR' satisfies ProblemCode;
  constructor() {
    super('the cursor is not one this service returned; start again without it');
  }
}
