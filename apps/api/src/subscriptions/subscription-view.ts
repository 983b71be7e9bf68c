import type { DeliveryRecord, Subscription } from '#webhooks';
import { isoTime as iso } from '../http/views.js';

/** A subscription as the API shows it; its secret appears only in the creation response. */
export function subscriptionView(s: Subscription) {
  return {
    id: s.id,
    url: s.url,
    eventTypes: s.eventTypes,
    labelSelector: s.labelSelector,
    ...(s.description !== undefined ? { description: s.description } : {}),
    enabled: s.enabled,
    namespace: s.namespace,
    createdAt: iso(s.createdAt),
    updatedAt: iso(s.updatedAt),
  };
}

export function deliveryView(d: DeliveryRecord) {
  return {
    id: d.id,
    subscriptionId: d.subscriptionId,
    /** The `webhook-id` header the receiver sees (the same on every attempt and re-drive). */
    webhookId: `msg_${d.id}`,
    eventType: d.eventType,
    credentialId: d.credentialId,
    revision: d.revision,
    status: d.status,
    deadLettered: d.status === 'dead',
    attempts: d.attempts.map((a) => ({ ...a, at: iso(a.at) })),
    redrives: d.redrives,
    createdAt: iso(d.createdAt),
    updatedAt: iso(d.updatedAt),
    deliveredAt: iso(d.deliveredAt),
    deadLetteredAt: iso(d.deadLetteredAt),
    nextAttemptAt: iso(d.nextAttemptAt),
  };
}
