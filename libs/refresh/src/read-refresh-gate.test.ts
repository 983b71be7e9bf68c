import { describe, expect, it } from 'vitest';
import { cappedRunwayMs } from './read-refresh-gate.js';

describe('cappedRunwayMs', () => {
  const token = { issuedAt: 0, expiresAt: 3_600_000 };

  it('grants the runway asked for up to half the lifetime', () => {
    expect(cappedRunwayMs(30, token)).toBe(30_000);
    expect(cappedRunwayMs(1_800, token)).toBe(1_800_000);
    expect(cappedRunwayMs(86_400, token)).toBe(1_800_000);
  });

  it('never asks for a negative runway', () => {
    expect(cappedRunwayMs(60, { issuedAt: 10, expiresAt: 5 })).toBe(0);
    expect(cappedRunwayMs(0, token)).toBe(0);
  });

  it('takes a configured share of the lifetime', () => {
    expect(cappedRunwayMs(86_400, token, 1)).toBe(3_600_000);
    expect(cappedRunwayMs(86_400, token, 0.25)).toBe(900_000);
  });
});
