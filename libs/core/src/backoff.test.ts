import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type BackoffPolicy, backoffCeiling, DEFAULT_BACKOFF, nextAttemptAt } from './backoff.js';

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

const fixed = (value: number) => () => value;

const arbNow = fc.integer({ min: 0, max: 4_102_444_800_000 });
const arbAttempt = fc.integer({ min: 1, max: 100 });
/** A value from `Math.random()`: [0, 1). */
const arbRandom = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
const arbRetryAfter = fc.option(fc.integer({ min: 0, max: 2 * HOUR }), { nil: undefined });
/** Base of at least 10 ms, so the 1/10-of-base floor is at least one millisecond. */
const arbPolicy: fc.Arbitrary<BackoffPolicy> = fc
  .record({ a: fc.integer({ min: 10, max: 10 * MINUTE }), b: fc.integer({ min: 10, max: HOUR }) })
  .map(({ a, b }) => ({ baseMs: Math.min(a, b), capMs: Math.max(a, b) }));

describe('backoffCeiling', () => {
  it('doubles from 1 s and stops at the 5-minute cap', () => {
    const ceilings = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((attempt) => backoffCeiling(attempt));
    expect(ceilings).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 300].map((s) => s * SECOND));
  });

  it('stays at the cap for very large attempt counts', () => {
    expect(backoffCeiling(1_000)).toBe(5 * MINUTE);
    expect(backoffCeiling(Number.MAX_SAFE_INTEGER)).toBe(5 * MINUTE);
  });

  it('treats attempt 0 or below as the first attempt', () => {
    expect(backoffCeiling(0)).toBe(SECOND);
    expect(backoffCeiling(-5)).toBe(SECOND);
  });

  it('uses the policy it is given', () => {
    expect(backoffCeiling(3, { baseMs: 500, capMs: 1_500 })).toBe(1_500);
    expect(backoffCeiling(2, { baseMs: 500, capMs: 1_500 })).toBe(1_000);
  });

  it('is monotone non-decreasing in the attempt and never above the cap', () => {
    fc.assert(
      fc.property(arbAttempt, arbAttempt, arbPolicy, (a, b, policy) => {
        const [low, high] = a <= b ? [a, b] : [b, a];
        expect(backoffCeiling(low, policy)).toBeLessThanOrEqual(backoffCeiling(high, policy));
        expect(backoffCeiling(high, policy)).toBeLessThanOrEqual(policy.capMs);
        expect(backoffCeiling(low, policy)).toBeGreaterThanOrEqual(policy.baseMs);
      }),
    );
  });
});

describe('nextAttemptAt', () => {
  it('applies full jitter over [floor, ceiling]', () => {
    // Attempt 4: ceiling 8 s.
    expect(nextAttemptAt({ now: NOW, attempt: 4, random: fixed(0.5) })).toBe(NOW + 4 * SECOND);
    expect(nextAttemptAt({ now: NOW, attempt: 4, random: fixed(0.25) })).toBe(NOW + 2 * SECOND);
    expect(nextAttemptAt({ now: NOW, attempt: 4, random: fixed(0.999_999) })).toBe(NOW + 8 * SECOND - 1);
  });

  it('waits at least a tenth of the base even when random is 0', () => {
    expect(nextAttemptAt({ now: NOW, attempt: 1, random: fixed(0) })).toBe(NOW + 100);
    expect(nextAttemptAt({ now: NOW, attempt: 9, random: fixed(0) })).toBe(NOW + 100);
  });

  it('clamps a misbehaving random source into [0, 1]', () => {
    expect(nextAttemptAt({ now: NOW, attempt: 4, random: fixed(-1) })).toBe(NOW + 100);
    expect(nextAttemptAt({ now: NOW, attempt: 4, random: fixed(3) })).toBe(NOW + 8 * SECOND);
  });

  it('spreads a burst of failures across the whole jitter range', () => {
    const delays = [0.05, 0.25, 0.5, 0.75, 0.95].map(
      (r) => nextAttemptAt({ now: NOW, attempt: 20, random: fixed(r) }) - NOW,
    );
    expect(delays).toEqual([15, 75, 150, 225, 285].map((s) => s * SECOND));
  });

  // The delay before the next attempt, from the jittered backoff, a Retry-After and the held
  // token's expiry (in ms from now; attempt 10 is jittered to 150 s, attempt 6 to 16 s).
  it.each([
    {
      name: 'honours a Retry-After longer than the jittered delay',
      attempt: 1,
      retryAfterMs: 30 * SECOND,
      delay: 30 * SECOND,
    },
    {
      name: 'honours a Retry-After that ends before the held token expires',
      attempt: 1,
      expiresIn: 10 * MINUTE,
      retryAfterMs: 2 * MINUTE,
      delay: 2 * MINUTE,
    },
    {
      name: 'keeps the jittered delay when Retry-After is shorter',
      attempt: 6,
      retryAfterMs: SECOND,
      delay: 16 * SECOND,
    },
    {
      name: 'caps a Retry-After beyond the backoff cap at the cap',
      attempt: 1,
      retryAfterMs: HOUR,
      delay: 5 * MINUTE,
    },
    {
      name: 'squeezes the next attempt into half the remaining lifetime when the delay would pass expiry',
      attempt: 10,
      expiresIn: MINUTE,
      delay: 30 * SECOND,
    },
    {
      name: 'honours a Retry-After that fits before expiry even when the jittered delay would be squeezed',
      attempt: 10,
      expiresIn: 100 * SECOND,
      retryAfterMs: MINUTE,
      delay: MINUTE,
    },
    {
      name: 'squeezes a Retry-After that would pass expiry',
      attempt: 1,
      expiresIn: 20 * SECOND,
      retryAfterMs: MINUTE,
      random: 0,
      delay: 10 * SECOND,
    },
    {
      name: 'schedules the attempt at expiry when less than two squeeze intervals remain',
      attempt: 5,
      expiresIn: 400,
      delay: 400,
    },
    {
      name: 'does not squeeze when the delay already ends before expiry',
      attempt: 2,
      expiresIn: HOUR,
      delay: SECOND,
    },
    { name: 'treats now === expiresAt as expired: no squeeze', attempt: 4, expiresIn: 0, delay: 4 * SECOND },
  ])('$name', ({ attempt, expiresIn, retryAfterMs, random = 0.5, delay }) => {
    const expiresAt = expiresIn === undefined ? undefined : NOW + expiresIn;
    expect(nextAttemptAt({ now: NOW, attempt, expiresAt, retryAfterMs, random: fixed(random) })).toBe(
      NOW + delay,
    );
  });

  it('keeps several attempts before expiry as it closes in', () => {
    const expiresAt = NOW + MINUTE;
    const attempts: number[] = [];
    let now = NOW;
    for (let attempt = 10; attempt < 30 && now < expiresAt; attempt++) {
      now = nextAttemptAt({ now, attempt, expiresAt, random: fixed(0.99) });
      attempts.push(now);
    }
    const beforeExpiry = attempts.filter((t) => t < expiresAt);
    // 60 s left → attempts at 30, 45, 52.5, 56.25, 58.125, 59.062, 59.531 s, then one at expiry.
    expect(beforeExpiry.map((t) => t - NOW)).toEqual([
      30_000, 45_000, 52_500, 56_250, 58_125, 59_062, 59_531,
    ]);
    expect(attempts.at(-1)).toBe(expiresAt);
    for (let i = 1; i < beforeExpiry.length; i++) {
      expect(beforeExpiry[i]! - beforeExpiry[i - 1]!).toBeGreaterThanOrEqual(250 - 1);
    }
  });

  it('keeps trying at up to the cap after expiry', () => {
    const at = nextAttemptAt({ now: NOW, attempt: 50, expiresAt: NOW - HOUR, random: fixed(0.999_999) });
    expect(at).toBeLessThanOrEqual(NOW + 5 * MINUTE);
    expect(at).toBeGreaterThan(NOW + 4 * MINUTE);
  });

  it('is always in the future', () => {
    fc.assert(
      fc.property(
        arbNow,
        arbAttempt,
        fc.option(fc.integer({ min: -2 * HOUR, max: 2 * HOUR }), { nil: undefined }),
        arbRetryAfter,
        arbRandom,
        arbPolicy,
        (now, attempt, expiresIn, retryAfterMs, random, policy) => {
          const expiresAt = expiresIn === undefined ? undefined : now + expiresIn;
          const at = nextAttemptAt({ now, attempt, expiresAt, retryAfterMs, random: fixed(random) }, policy);
          expect(Number.isInteger(at)).toBe(true);
          expect(at).toBeGreaterThan(now);
        },
      ),
    );
  });

  it('never schedules past the expiry of a token that is still valid, even with Retry-After', () => {
    fc.assert(
      fc.property(
        arbNow,
        arbAttempt,
        fc.integer({ min: 1, max: 2 * HOUR }),
        arbRetryAfter,
        arbRandom,
        arbPolicy,
        (now, attempt, expiresIn, retryAfterMs, random, policy) => {
          const expiresAt = now + expiresIn;
          const at = nextAttemptAt({ now, attempt, expiresAt, retryAfterMs, random: fixed(random) }, policy);
          expect(at).toBeLessThanOrEqual(expiresAt);
          // Only when under 2 × 250 ms remain does the attempt land on the expiry itself.
          if (expiresIn >= 500) expect(at).toBeLessThan(expiresAt);
        },
      ),
    );
  });

  it('waits at most the cap when the token has expired or there is none', () => {
    fc.assert(
      fc.property(
        arbNow,
        arbAttempt,
        fc.option(fc.integer({ min: 0, max: 2 * HOUR }), { nil: undefined }),
        arbRetryAfter,
        arbRandom,
        arbPolicy,
        (now, attempt, expiredFor, retryAfterMs, random, policy) => {
          const expiresAt = expiredFor === undefined ? undefined : now - expiredFor;
          const at = nextAttemptAt({ now, attempt, expiresAt, retryAfterMs, random: fixed(random) }, policy);
          expect(at - now).toBeLessThanOrEqual(policy.capMs);
          expect(at - now).toBeLessThanOrEqual(Math.max(backoffCeiling(attempt, policy), retryAfterMs ?? 0));
        },
      ),
    );
  });

  it('waits at least the Retry-After (up to the cap) when that does not pass a valid token’s expiry', () => {
    fc.assert(
      fc.property(
        arbNow,
        arbAttempt,
        fc.oneof(fc.integer({ min: 0, max: 10 * MINUTE }), fc.integer({ min: 0, max: 2 * HOUR })),
        fc.oneof(
          fc.constant({ mode: 'none' as const, ms: 0 }),
          fc.record({ mode: fc.constant('expired' as const), ms: fc.integer({ min: 0, max: HOUR }) }),
          fc.record({ mode: fc.constant('slack' as const), ms: fc.integer({ min: 1, max: HOUR }) }),
        ),
        arbRandom,
        arbPolicy,
        (now, attempt, retryAfterMs, expiry, random, policy) => {
          const honoured = Math.min(retryAfterMs, policy.capMs);
          const expiresAt =
            expiry.mode === 'none'
              ? undefined
              : expiry.mode === 'expired'
                ? now - expiry.ms
                : now + honoured + expiry.ms;
          const at = nextAttemptAt({ now, attempt, expiresAt, retryAfterMs, random: fixed(random) }, policy);
          expect(at - now).toBeGreaterThanOrEqual(honoured);
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it('stays within the full-jitter range [max(base/10 capped), ceiling] without expiry or Retry-After', () => {
    fc.assert(
      fc.property(arbNow, arbAttempt, arbRandom, arbPolicy, (now, attempt, random, policy) => {
        const ceiling = backoffCeiling(attempt, policy);
        const delay = nextAttemptAt({ now, attempt, random: fixed(random) }, policy) - now;
        expect(delay).toBeGreaterThanOrEqual(Math.floor(Math.min(policy.baseMs / 10, ceiling)));
        expect(delay).toBeLessThanOrEqual(ceiling);
        const jittered = Math.max(Math.min(policy.baseMs / 10, ceiling), random * ceiling);
        expect(delay).toBe(Math.floor(now + jittered) - now);
      }),
    );
  });

  it('uses the default policy when none is given', () => {
    fc.assert(
      fc.property(arbNow, arbAttempt, arbRandom, (now, attempt, random) => {
        expect(nextAttemptAt({ now, attempt, random: fixed(random) })).toBe(
          nextAttemptAt({ now, attempt, random: fixed(random) }, DEFAULT_BACKOFF),
        );
      }),
    );
  });
});
