import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidCursorError } from '#store';
import { advance, beginningOf, compareStreamIds, decodeFeedCursor, encodeFeedCursor } from './feed-cursor.js';

const streamId = fc
  .tuple(fc.bigInt({ min: 0n, max: 2n ** 48n }), fc.integer({ min: 0, max: 1_000_000 }))
  .map(([ms, seq]) => `${ms}-${seq}`);

describe('feed cursor', () => {
  it('is the plain stream id with one partition', () => {
    expect(encodeFeedCursor(['1712345678901-3'])).toBe('1712345678901-3');
    expect(decodeFeedCursor('1712345678901-3', 1)).toEqual(['1712345678901-3']);
  });

  it('round-trips any position of any partition count', () => {
    fc.assert(
      fc.property(fc.array(streamId, { minLength: 1, maxLength: 16 }), (position) => {
        expect(decodeFeedCursor(encodeFeedCursor(position), position.length)).toEqual(position);
      }),
    );
  });

  it('applies a bare stream id to every partition (a time, valid for any partition count)', () => {
    expect(decodeFeedCursor('1700000000000-0', 3)).toEqual([
      '1700000000000-0',
      '1700000000000-0',
      '1700000000000-0',
    ]);
    expect(decodeFeedCursor('0', 2)).toEqual(['0-0', '0-0']);
  });

  it('refuses cursors it did not issue, and multi-partition cursors of another partition count', () => {
    for (const bad of ['', 'abc', '12-', '-1', 'm.!!', `m.${Buffer.from('1-0,x').toString('base64url')}`]) {
      expect(() => decodeFeedCursor(bad, 2), bad).toThrow(InvalidCursorError);
    }
    expect(() => decodeFeedCursor(encodeFeedCursor(['1-0', '2-0', '3-0']), 2)).toThrow(InvalidCursorError);
  });

  it('advances only the partition of the consumed entry', () => {
    const start = beginningOf(3);
    expect(advance(start, 1, '5-0')).toEqual(['0-0', '5-0', '0-0']);
    expect(start).toEqual(['0-0', '0-0', '0-0']);
  });

  it('orders stream ids numerically, not as strings', () => {
    expect(compareStreamIds('9-0', '10-0')).toBe(-1);
    expect(compareStreamIds('10-2', '10-10')).toBe(-1);
    expect(compareStreamIds('10-1', '10-1')).toBe(0);
    expect(compareStreamIds('18446744073709551615-0', '18446744073709551614-9')).toBe(1);
  });
});
