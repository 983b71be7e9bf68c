import type { KeySpace, RedisClient } from '#store';

/**
 * How much runway a read may demand: what it asks, but at most half the token's lifetime, so
 * that a huge `minTtl` cannot turn every read into a refresh (a token that has more than half
 * its life left is served whatever `minTtl` says).
 */
export function cappedRunwayMs(
  minTtlSeconds: number,
  token: { issuedAt: number; expiresAt: number },
): number {
  return Math.min(minTtlSeconds * 1000, Math.max(0, token.expiresAt - token.issuedAt) / 2);
}

/** Decides whether a read may trigger a refresh of a credential that still has a valid token. */
export interface ReadRefreshGate {
  /** True for the first caller per credential and interval; false while the interval runs. */
  tryAcquire(credentialId: string): Promise<boolean>;
}

/**
 * At most one read-triggered refresh per credential per `intervalMs`, across every api process:
 * `SET NX PX` of a key per credential (in the credential's slot). An interval of 0 lets every
 * read through.
 */
export class RedisReadRefreshGate implements ReadRefreshGate {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: KeySpace,
    private readonly intervalMs: number,
  ) {}

  async tryAcquire(credentialId: string): Promise<boolean> {
    if (this.intervalMs <= 0) return true;
    const set = await this.redis.set(this.keys.readRefresh(credentialId), '1', 'PX', this.intervalMs, 'NX');
    return set === 'OK';
  }
}
