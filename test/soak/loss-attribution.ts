import type { Presentation } from '../support/fault-proxy.js';
import type { LostCredential, WorkerKill } from './rotation-soak.js';

/**
 * Why a credential was lost, from evidence only: its history (the `REFRESH_TOKEN_LOST` code and the
 * worker its attempt record names) and the fault proxy's record of every presentation of its
 * refresh tokens (who presented, what the provider answered, whether the answer reached the
 * worker). No time windows around kills.
 *
 * A loss is `crash-window` when all of these hold:
 * - the credential ends in `reauth_required` with code `REFRESH_TOKEN_LOST`, and the message of
 *   that event (or of the `refresh.failed` before it) names a worker (`host:pid`) that was SIGKILLed;
 * - following the credential's chain of refresh tokens from the one it was registered with (each
 *   step: a 200 answer that reached its worker, to the token it issued), the provider's last
 *   rotation answered a presentation by that worker, made before it was killed, and the answer
 *   never reached it (or reached it only before the kill, so it could not be stored);
 * - the rotated-away token was presented at most once more afterwards (the one re-presentation a
 *   strict provider allows, in case the request never arrived).
 * Anything else is `unexplained`, with the reason.
 */
export interface LossAttribution {
  id: string;
  verdict: 'crash-window' | 'unexplained';
  reason: string;
  /** The killed worker the evidence points to. */
  worker?: string;
  /** Crash window only: whether the lost answer was handed to the worker before it died. */
  answerReachedWorker?: boolean;
}

interface Rotation {
  token: string;
  presentation: Presentation;
  index: number;
}

/** The credential's last rotation, following answers that reached their worker from `initialToken`. */
export function lastRotation(
  initialToken: string,
  record: ReadonlyMap<string, readonly Presentation[]>,
): Rotation | undefined {
  let token: string | undefined = initialToken;
  let last: Rotation | undefined;
  const seen = new Set<string>();
  while (token !== undefined && !seen.has(token)) {
    seen.add(token);
    const list: readonly Presentation[] = record.get(token) ?? [];
    let next: string | undefined;
    list.forEach((presentation, index) => {
      if (presentation.providerStatus !== 200) return;
      last = { token: token as string, presentation, index };
      if (presentation.delivered && presentation.issued) next = presentation.issued;
    });
    token = next;
  }
  return last;
}

export function attributeLoss(
  lost: LostCredential,
  record: ReadonlyMap<string, readonly Presentation[]>,
  kills: readonly WorkerKill[],
): LossAttribution {
  const unexplained = (reason: string): LossAttribution => ({ id: lost.id, verdict: 'unexplained', reason });
  const reauthAt = lost.events.findLastIndex((e) => e.type === 'credential.reauth_required');
  if (reauthAt < 0) return unexplained(`not reauth_required but ${lost.state}`);
  const reauth = lost.events[reauthAt]!;
  if (reauth.data.code !== 'REFRESH_TOKEN_LOST')
    return unexplained(`reauth_required with ${reauth.data.code}`);
  const failed = lost.events.slice(0, reauthAt).findLast((e) => e.type === 'refresh.failed');
  const messages = `${reauth.data.message ?? ''} ${failed?.data.message ?? ''}`;
  // Whole `host:pid` names only: `host:42` must not match inside `host:420`.
  const named = new Set(messages.match(/[\w.-]+:\d+/g) ?? []);
  const namedKills = kills.filter((k) => named.has(k.workerId));
  if (namedKills.length === 0) return unexplained('its attempt record names no killed worker');
  const rotation = lastRotation(lost.initialToken, record);
  if (!rotation) return unexplained('the proxy saw no rotation of its refresh tokens');
  const p = rotation.presentation;
  // The message names the lost attempt, and its re-presentation when that was lost too: the
  // evidence must point at one of them.
  const kill = namedKills.find((k) => k.workerId === p.worker);
  if (!kill)
    return unexplained(
      `the last rotation answered ${p.worker ?? 'an unnamed sender'}, not ${namedKills.map((k) => k.workerId).join(' or ')}`,
    );
  if (p.at > kill.at) return unexplained('the last rotation was presented after the worker was killed');
  const reached = p.delivered && p.settledAt !== undefined && p.settledAt <= kill.at;
  if (p.delivered && !reached) return unexplained('the lost answer reached the worker after it was killed');
  const later = (record.get(rotation.token) ?? []).slice(rotation.index + 1);
  // Once by the worker that took over; once more for each re-presenting worker killed in turn
  // (the failure message names each of them).
  if (later.length > namedKills.length)
    return unexplained(`the rotated-away token was presented ${later.length} more times`);
  return {
    id: lost.id,
    verdict: 'crash-window',
    reason: reached
      ? 'answer reached the worker, killed before storing it'
      : 'answer never reached the worker',
    worker: kill.workerId,
    answerReachedWorker: reached,
  };
}
