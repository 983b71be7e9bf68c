import { CREDENTIAL_STATES, type CredentialProjection } from '#core';

/** What the credentials gauges show: counts by state and the soonest expiry among active tokens. */
export interface FleetSnapshot {
  byState: Record<string, number>;
  /** Epoch ms of the soonest `expiresAt` among active credentials; undefined when there are none. */
  soonestExpiry?: number;
}

/** Folds one page of projections into a snapshot (pure, so the scan can be tested without Redis). */
export function addToSnapshot(snapshot: FleetSnapshot, page: (CredentialProjection | undefined)[]): void {
  for (const p of page) {
    if (!p) continue;
    snapshot.byState[p.state] = (snapshot.byState[p.state] ?? 0) + 1;
    if (p.state === 'active' && p.token) {
      const at = p.token.expiresAt;
      if (snapshot.soonestExpiry === undefined || at < snapshot.soonestExpiry) snapshot.soonestExpiry = at;
    }
  }
}

export function emptySnapshot(): FleetSnapshot {
  return { byState: Object.fromEntries(CREDENTIAL_STATES.map((s) => [s, 0])) };
}
