import { describe, expect, it } from 'vitest';
import { lastRotation } from '../soak/loss-attribution.js';
import {
  historyLine,
  type RotationSoakOptions,
  type RotationSoakResult,
  runRotationSoak,
  summaryLine,
} from '../soak/rotation-soak.js';

/**
 * The CI soaks' shared shape: 150 credentials with 15 s access tokens, 90 s of faults on a 2-core
 * machine, within 4 minutes in all. The grant's soft timeout (1.5 s) is shorter than a held answer
 * (3 s), which is shorter than the hard deadline (8 s) and the lease (9 s): a held answer arrives
 * after the timeout, inside the time tokenkeeper must keep waiting for it.
 */
export const CI_SOAK: Omit<RotationSoakOptions, 'provider' | 'workerKills' | 'rotation' | 'faults'> = {
  credentials: 150,
  accessTokenTtl: 15,
  chaosMs: 90_000,
  settleMs: 40_000,
  budgetMs: 225_000,
  workers: 2,
  apis: 2,
  readers: 10,
  cpuNeighbour: true,
  env: {
    TK_GRANT_TIMEOUT_MS: '1500',
    TK_GRANT_DEADLINE_MS: '8000',
    TK_LEASE_TTL_MS: '9000',
    TK_JOB_LOCK_MS: '9000',
  },
};

/** 20 % provider 5xx, 10 % of answers held past the grant timeout after the provider rotated. */
export const CI_FAULTS = {
  failureRate: 0.2,
  failureStatus: 503,
  heldAfterForward: 0.1,
  holdMs: 3_000,
  latencyMs: 5,
  latencyJitterMs: 45,
  seed: 11,
} as const;

/** Wall-clock bound of one CI soak (the test fails past it; the soak's own budget is 15 s less). */
export const CI_SOAK_TIMEOUT_MS = 240_000;

export const soakLog = (label: string) => {
  const started = Date.now();
  return (line: string) =>
    process.stdout.write(`[${label} +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`);
};

/** Prints the one-line figures, then the histories of a few lost credentials and a few bad tokens. */
export function printSoak(label: string, r: RotationSoakResult): void {
  process.stdout.write(`${summaryLine(label, r)}\n`);
  if (r.lost.length > 0) {
    // What the proxy saw of each lost credential's last rotation: whose answer went where.
    const causes = new Map<string, number>();
    for (const lost of r.lost) {
      const p = lastRotation(lost.initialToken, r.record)?.presentation;
      const cause = p
        ? `${p.fault ?? 'plain'} answer ${p.delivered ? 'delivered' : 'not delivered'}`
        : 'no rotation seen';
      causes.set(cause, (causes.get(cause) ?? 0) + 1);
    }
    process.stdout.write(
      `[${label}] last rotation of the lost credentials: ${[...causes].map(([c, n]) => `${n} ${c}`).join(', ')}\n`,
    );
  }
  for (const lost of r.lost.slice(0, 5))
    process.stdout.write(`[${label}] lost ${lost.id} (${lost.state}): ${historyLine(lost.events)}\n`);
  for (const bad of r.badTokens.slice(0, 5)) process.stdout.write(`[${label}] bad token: ${bad}\n`);
}

/**
 * Declares one CI soak of the shared shape: runs it, prints its figures under `label`, checks what
 * every CI soak must show (`expectSoakHeld`) and then what this one adds (`expectMore`).
 */
export function ciSoak(
  title: { describe: string; it: string; label: string },
  options: Pick<RotationSoakOptions, 'provider' | 'workerKills' | 'rotation' | 'faults' | 'graceSeconds'>,
  expectMore: (r: RotationSoakResult) => void,
): void {
  describe(title.describe, () => {
    it(
      title.it,
      async () => {
        const r = await runRotationSoak({ ...CI_SOAK, ...options, log: soakLog(title.label) });
        printSoak(title.label, r);
        expectMore(r);
        expectSoakHeld(r);
      },
      CI_SOAK_TIMEOUT_MS,
    );
  });
}

/**
 * What every CI soak must show: its Redis kill, api restart and faults happened and tokens kept
 * being refreshed, yet no credential was lost, no refresh token reused outside its provider's
 * window, no bad token served and no history has a gap.
 */
export function expectSoakHeld(r: RotationSoakResult): void {
  expect(r.redisKills).toBe(1);
  expect(r.apiRestarts).toBe(1);
  expect(r.faultsAfterForward).toBeGreaterThan(0);
  expect(r.refreshes).toBeGreaterThan(r.credentials);
  expect(r.lost.map((l) => `${l.id} ${l.state}`)).toEqual([]);
  expect(r.reuseOutsideWindow).toBe(0);
  expect(r.badTokens).toEqual([]);
  expect(r.historiesWithGaps).toBe(0);
}
