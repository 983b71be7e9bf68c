/** Retry schedule for failed refreshes, in milliseconds. */
export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, capMs: 300_000 };

/** Attempts left at least this far apart when squeezed in before expiry. */
const MIN_SQUEEZE_MS = 250;

/** The largest delay before attempt `attempt + 1`, given `attempt` failures so far (1-based). */
export function backoffCeiling(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 40));
  return Math.min(policy.capMs, policy.baseMs * 2 ** exponent);
}

export interface NextAttemptInput {
  now: number;
  /** Failed attempts so far, including the one that just failed (≥ 1). */
  attempt: number;
  /** Expiry of the token currently held, if any. */
  expiresAt?: number;
  /** The provider's `Retry-After`, in milliseconds. */
  retryAfterMs?: number;
  /** Returns a number in [0, 1). */
  random: () => number;
}

/**
 * When to try again: full jitter (`random × ceiling`), at least 1/10 of the base so a burst of
 * failures does not hammer the provider, and at least the provider's `Retry-After`.
 * While the held token is still valid the next attempt is never scheduled past its expiry:
 * it is squeezed into half of the remaining time, so several attempts still happen before the
 * token dies. After expiry the plain schedule applies, growing up to the cap.
 */
export function nextAttemptAt(input: NextAttemptInput, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  const { now, attempt, expiresAt, retryAfterMs } = input;
  const ceiling = backoffCeiling(attempt, policy);
  const floor = Math.min(policy.baseMs / 10, ceiling);
  let delay = Math.max(floor, Math.min(Math.max(input.random(), 0), 1) * ceiling);
  if (retryAfterMs !== undefined && retryAfterMs > delay) delay = Math.min(retryAfterMs, policy.capMs);
  if (expiresAt !== undefined && now < expiresAt && now + delay >= expiresAt) {
    const remaining = expiresAt - now;
    delay = remaining / 2 >= MIN_SQUEEZE_MS ? remaining / 2 : remaining;
    // Squeezing must not undercut a Retry-After that still ends before expiry.
    if (retryAfterMs !== undefined && retryAfterMs > delay && retryAfterMs < remaining) delay = retryAfterMs;
  }
  return Math.floor(now + delay);
}
