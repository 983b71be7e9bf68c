import { describe, expect, it } from 'vitest';
import { TokenBuckets } from './token-bucket.js';

describe('TokenBuckets', () => {
  it('allows a burst, then refills at the rate, per caller', () => {
    const buckets = new TokenBuckets(2, 3);
    const t0 = 1_000_000;
    expect([0, 0, 0].map(() => buckets.take('a', t0))).toEqual([0, 0, 0]);
    expect(buckets.take('a', t0)).toBe(1);
    expect(buckets.take('b', t0)).toBe(0);
    expect(buckets.take('a', t0 + 500)).toBe(0);
    expect(buckets.take('a', t0 + 500)).toBe(1);
  });

  it('says how many seconds to wait at a slow rate', () => {
    const buckets = new TokenBuckets(0.1, 1);
    expect(buckets.take('a', 0)).toBe(0);
    expect(buckets.take('a', 0)).toBe(10);
  });

  it('is off at rate 0', () => {
    expect(new TokenBuckets(0, 1).enabled).toBe(false);
  });
});
