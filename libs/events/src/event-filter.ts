import type { EventType } from '#core';
import type { StoredEvent } from '#store';

/** Which feed events a reader wants. The namespace is always the caller's own. */
export interface EventFilter {
  namespace: string;
  /** Empty or absent: every type. */
  types?: ReadonlySet<EventType>;
  /** Empty or absent: every credential. */
  credentialIds?: ReadonlySet<string>;
}

export function matchesEventFilter(event: StoredEvent, filter: EventFilter): boolean {
  if (event.namespace !== filter.namespace) return false;
  if (filter.types?.size && !filter.types.has(event.type)) return false;
  if (filter.credentialIds?.size && !filter.credentialIds.has(event.credentialId)) return false;
  return true;
}
