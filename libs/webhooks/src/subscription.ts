import type { EventType } from '#core';
import type { StoredEvent } from '#store';

/** A webhook subscription. Its signing secret is stored encrypted beside it, never in here. */
export interface Subscription {
  id: string;
  namespace: string;
  url: string;
  /** Event types to deliver; empty means every type. */
  eventTypes: EventType[];
  /** Credential labels that must all be equal; empty means every credential. */
  labelSelector: Record<string, string>;
  description?: string;
  enabled: boolean;
  createdAt: number;
  updatedAt: number;
}

export function needsLabels(sub: Subscription): boolean {
  return Object.keys(sub.labelSelector).length > 0;
}

/**
 * Whether a subscription wants an event. `labels` are the credential's labels (undefined when
 * unknown, which fails any selector: better a missed delivery than one to the wrong receiver).
 */
export function subscriptionWants(
  sub: Subscription,
  event: StoredEvent,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  if (!sub.enabled || sub.namespace !== event.namespace) return false;
  if (sub.eventTypes.length > 0 && !sub.eventTypes.includes(event.type)) return false;
  if (!needsLabels(sub)) return true;
  if (!labels) return false;
  return Object.entries(sub.labelSelector).every(([k, v]) => labels[k] === v);
}

/**
 * Labels an event carries itself: the registration's labels, or an update's new labels. Other
 * events name only the credential, whose current labels the dispatcher looks up.
 */
export function labelsInEvent(event: StoredEvent): Record<string, string> | undefined {
  if (event.type === 'credential.registered') return event.data.labels;
  if (event.type === 'credential.updated') return event.data.labels;
  return undefined;
}
