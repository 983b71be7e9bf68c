import type {
  CredentialKind,
  FailureInfo,
  GrantSettings,
  RefreshPolicyOverrides,
  TokenInfo,
} from './credential.js';
import { boundText } from './error-classification.js';
import type { RotationSettings } from './rotation.js';

/** What caused a refresh; recorded on every `token.updated` and `refresh.failed`. */
export const REFRESH_TRIGGERS = [
  'registration',
  'scheduled',
  'manual',
  'on_demand',
  'invalidated',
  'sweep',
] as const;
export type RefreshTrigger = (typeof REFRESH_TRIGGERS)[number];

export interface EventPayloads {
  'credential.registered': {
    namespace: string;
    kind: CredentialKind;
    name: string;
    labels: Record<string, string>;
    grant: GrantSettings;
    policy: RefreshPolicyOverrides;
    rotation?: RotationSettings;
  };
  'credential.updated': {
    name?: string;
    labels?: Record<string, string>;
    grant?: GrantSettings;
    policy?: RefreshPolicyOverrides;
    rotation?: RotationSettings;
    /** Names of secret fields that were replaced (never their values). */
    secretsChanged: string[];
  };
  'token.updated': TokenInfo & {
    refreshTokenRotated: boolean;
    trigger: RefreshTrigger;
    lifetimeSource: 'expires_in' | 'jwt_exp' | 'default' | 'supplied';
    /** The provider answered this long after the request was sent, past the soft timeout. */
    lateAnswerMs?: number;
  };
  /** The failure as the projection keeps it (`lastFailure`), less its time: the event's `at`. */
  'refresh.failed': Omit<FailureInfo, 'at'> & { trigger: RefreshTrigger };
  'credential.reauth_required': { code: string; message: string };
  'credential.expired': { expiredAt: number };
  'credential.recovered': { afterAttempts: number; downtimeMs: number };
  'credential.revoked': { reason?: string };
}

export type EventType = keyof EventPayloads;
export const EVENT_TYPES = [
  'credential.registered',
  'credential.updated',
  'token.updated',
  'refresh.failed',
  'credential.reauth_required',
  'credential.expired',
  'credential.recovered',
  'credential.revoked',
] as const satisfies readonly EventType[];

/** A recorded event. `revision` is its position in the credential's stream, starting at 1. */
export type CredentialEvent = {
  [T in EventType]: { type: T; credentialId: string; revision: number; at: number; data: EventPayloads[T] };
}[EventType];

/** An event about to be appended: the store assigns the revision. */
export type NewEvent = {
  [T in EventType]: { type: T; at: number; data: EventPayloads[T] };
}[EventType];

/**
 * Builds an event. Free text that may come from a provider or Vault (failure codes and messages,
 * a revocation reason) is bounded here too, so nothing longer than `boundText` allows is stored,
 * published or echoed, whichever path built it.
 */
export function newEvent<T extends EventType>(type: T, at: number, data: EventPayloads[T]): NewEvent {
  return { type, at, data: boundFreeText(data) } as NewEvent;
}

const FREE_TEXT_FIELDS = ['code', 'message', 'reason'] as const;

function boundFreeText<D extends object>(data: D): D {
  let bounded: D | undefined;
  for (const field of FREE_TEXT_FIELDS) {
    const value = (data as Record<string, unknown>)[field];
    if (typeof value !== 'string') continue;
    const text = boundText(value);
    if (text !== value) bounded = { ...(bounded ?? data), [field]: text };
  }
  return bounded ?? data;
}
