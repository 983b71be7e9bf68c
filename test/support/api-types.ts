/**
 * The JSON bodies the API answers with, as e2e tests read them. Derived from the functions that
 * build them, so a field the API adds, drops or renames shows up here at type-check time.
 */
import type { eventView } from '#events';
import type { credentialView } from '../../apps/api/src/credentials/credential-view.js';
import type { tokenBody } from '../../apps/api/src/credentials/token-body.js';
import type { deliveryView, subscriptionView } from '../../apps/api/src/subscriptions/subscription-view.js';

export type { Problem } from '../../apps/api/src/http/problem.js';

/** `GET /v1/credentials/:id`. */
export type CredentialView = ReturnType<typeof credentialView>;
/** `GET /v1/credentials/:id/token`. */
export type TokenBody = ReturnType<typeof tokenBody>;
/** An item of `GET /v1/credentials/:id/events` and the data of an event-stream message. */
export type EventBody = Omit<ReturnType<typeof eventView>, 'at'> & { at: string };
/** An item of `GET /v1/events` (the feed): an event with its resume cursor. */
export type FeedItem = EventBody & { cursor: string };
/** `POST /v1/pools`, an item of `GET /v1/pools`. */
export interface PoolView {
  id: string;
  name: string;
  members: string[];
  createdAt: string;
}
/** `GET /v1/pools/:id/token`: a member's token and which member served it. */
export type PoolTokenBody = TokenBody & { credentialId: string };
export type SubscriptionView = ReturnType<typeof subscriptionView>;
/** `POST /v1/subscriptions`: the subscription and, once, its signing secret. */
export type CreatedSubscription = SubscriptionView & { secret: string };
export type DeliveryView = ReturnType<typeof deliveryView>;

/** The JSON body a webhook receiver gets (Standard Webhooks envelope around an event). */
export interface WebhookBody {
  type: string;
  timestamp: string;
  data: EventBody;
}

/** An API key's record as `GET /v1/api-keys` lists it (never the key itself). */
export interface ApiKeyView {
  id: string;
  name: string;
  namespace: string;
  scopes: string[];
  createdAt: string;
  revokedAt?: string;
}

/** `POST /v1/api-keys`: the key's record and, once, the key itself. */
export type CreatedApiKey = ApiKeyView & { key: string };

/** A list answer: `{ items }`. */
export interface Page<T> {
  items: T[];
  nextCursor?: string;
}

/** The api's `GET /health/ready` (terminus' shape); `criticalCredentials` with TK_READY_CRITICAL_CREDENTIALS. */
export interface ApiReadiness {
  status: string;
  info?: Record<string, unknown>;
  error?: { criticalCredentials?: { credentials: Record<string, { ready: boolean; reason?: string }> } };
  details?: Record<string, { status: string }>;
}

/** The agent's `GET /ready` on its health port: versions and sinks, never a token. */
export interface AgentReadiness {
  status: string;
  sinks?: Array<{ name: string; failures: number; delivered: boolean; lastError?: string }>;
}

/** `GET /v1/admin/encryption`: the key ring's primary and the last re-encryption run. */
export interface EncryptionStatus {
  primaryKeyId: string;
  reEncryption?: {
    primaryKeyId: string;
    state: string;
    rewritten: number;
    failed: number;
    keyIds: Record<string, number>;
  };
}
