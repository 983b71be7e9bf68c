import type { LeaderLockPort } from './ports.js';

/**
 * Runs `task` on whichever process of the fleet takes the lock `name` first; the others get
 * undefined at once. The task may `renew` the lock while it works. The lock is released when the
 * task ends, unless `holdForTtl`: then it lapses on its own, so the task runs at most once per TTL
 * across the fleet however many processes try.
 */
export async function runAsLeader<T>(
  locks: LeaderLockPort,
  name: string,
  ttlMs: number,
  task: (renew: () => void) => Promise<T>,
  opts: { holdForTtl?: boolean } = {},
): Promise<T | undefined> {
  const lock = await locks.acquire(name, ttlMs);
  if (!lock) return undefined;
  // A renewal that fails leaves the lock to lapse; the task itself is safe to run twice.
  const renew = () => void locks.extend(lock, ttlMs).catch(() => false);
  try {
    return await task(renew);
  } finally {
    if (!opts.holdForTtl) await locks.release(lock);
  }
}
