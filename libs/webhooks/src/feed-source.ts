import type { FeedEntry, StoredEvent } from '#store';

/** A feed entry's place: its partition and its stream id there. */
export interface FeedRef {
  partition: number;
  id: string;
}

/** One read of the feed for this consumer. */
export interface FeedBatch {
  /** Events to dispatch, in feed order (by stream id, then partition). */
  entries: FeedEntry[];
  /** Entries with nothing to dispatch: trimmed from the feed while pending, or not an event. */
  unreadable: FeedRef[];
}

/**
 * The event feed as one consumer of the webhook dispatchers' group sees it: each entry is given to
 * one consumer and stays pending for it until acknowledged; a consumer that died leaves its pending
 * entries for another to claim. RedisFeedSource implements it with a Redis consumer group;
 * ./testing has an in-memory one.
 */
export interface FeedSource {
  /** Creates the group where missing, starting at the feed's end (no replay of old history). */
  ensureGroups(): Promise<void>;
  /** Entries no consumer was given yet, waiting a while for some when there are none. */
  readNew(): Promise<FeedBatch>;
  /** Entries this consumer was given but never acknowledged (after a crash or a failed dispatch). */
  readPending(): Promise<FeedBatch>;
  /** Takes over entries left unacknowledged too long, whoever was given them. */
  claimAbandoned(): Promise<FeedBatch>;
  ack(refs: FeedRef[]): Promise<void>;
  /** Cuts a waiting read short; nothing is read after. */
  close(): void;
}

/**
 * A feed entry's event, or undefined when it cannot be one (not JSON, or missing what dispatching
 * reads): such an entry is acknowledged and skipped rather than failing every batch it is in. An
 * event type this version does not know (written by a newer one) is still an event.
 */
export function decodeFeedEvent(json: string | undefined): StoredEvent | undefined {
  if (!json) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  const e = value as Partial<Record<keyof StoredEvent, unknown>> | null;
  if (
    typeof e !== 'object' ||
    e === null ||
    typeof e.type !== 'string' ||
    typeof e.namespace !== 'string' ||
    typeof e.credentialId !== 'string' ||
    typeof e.revision !== 'number' ||
    typeof e.data !== 'object' ||
    e.data === null
  )
    return undefined;
  return value as StoredEvent;
}
