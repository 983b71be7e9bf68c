/** Polling helpers for integration and e2e tests. */

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface WaitForOptions {
  /** Give up after this long (default 5000 ms). */
  timeoutMs?: number;
  /** Pause between two calls of the predicate (default 25 ms). */
  intervalMs?: number;
  /** Describes what was awaited; goes into the timeout error. */
  message?: string;
}

/**
 * Calls `predicate` until it returns (or resolves to) a truthy value, and returns that value.
 * A predicate that throws counts as "not yet"; the last error is attached to the timeout error
 * (as `cause` and in the message), so `waitFor(() => expect(...))`-style assertions work too
 * when they return `true` at the end.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  options: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const { timeoutMs = 5000, intervalMs = 25, message = 'condition' } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let attempts = 0;
  for (;;) {
    attempts += 1;
    try {
      const value = await predicate();
      if (value) return value as NonNullable<T>;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const detail = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
      throw new Error(`waitFor timed out after ${timeoutMs} ms (${attempts} attempts): ${message}${detail}`, {
        cause: lastError,
      });
    }
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}
