import type { KeySpace, RedisClient } from '#store';

/** Share of a token's lifetime a read may demand as runway unless configured otherwise. */
export const DEFAULT_MIN_TTL_MAX_FRACTION = 0.5;

/**
 * How much runway a read may demand: what it asks, but at most `maxFraction` of the token's
 * lifetime (default half), so that a huge `minTtl` cannot turn every read into a refresh (a
 * token that has more than that share of its life left is served whatever `minTtl` says).
 */
export function cappedRunwayMs(
  minTtlSeconds: number,
  token: { issuedAt: number; expiresAt: number },
  maxFraction = DEFAULT_MIN_TTL_MAX_FRACTION,
): number {
  return Math.min(minTtlSeconds * 1000, Math.max(0, token.expiresAt - token.issuedAt) * maxFraction);
}

/** Decides whether a read may trigger a refresh of a credential that still has a valid token. */
export interface ReadRefreshGate {
  /**
   * True for the first read per credential and interval, and for reads of the same token
   * version meanwhile (they join that one refresh: a refresh is demanded once per version);
   * false for a read of a newer version while the interval runs.
   */
  tryAcquire(credentialId: string, tokenVersion: number): Promise<boolean>;
}

/**
 * At most one read-triggered refresh per credential per `intervalMs`, across every api process:
 * `SET NX PX GET` of a key per credential (in the credential's slot) holding the token version
 * the read refreshed. An interval of 0 lets every read through.
 */
export class RedisReadRefreshGate implements ReadRefreshGate {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: KeySpace,
    private readonly intervalMs: number,
  ) {}

  async tryAcquire(credentialId: string, tokenVersion: number): Promise<boolean> {
    if (this.intervalMs <= 0) return true;
    const version = String(tokenVersion);
    const previous = await this.redis.set(
      this.keys.readRefresh(credentialId),
      version,
      'PX',
      this.intervalMs,
      'NX',
      'GET',
    );
    return previous === null || previous === version;
  }
}
