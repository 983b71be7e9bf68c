import { describe, expect, it } from 'vitest';
import { formatReport, LONG, runSoak, SHORT } from './chaos-soak.js';

/**
 * Issue 4's chaos soak, run on demand (its own vitest project, not part of `npm test`):
 * `npm run soak` runs the short mode strictly, `npm run soak:long` the long mode (2,000
 * credentials, 15 minutes of chaos) strictly; `npx vitest run --project soak` the short mode with
 * crash-window losses attributed and allowed.
 *
 * Strict means the issue's bar: nothing lost, no refresh token presented twice, no expired or
 * inactive token served. One loss no client can rule out is a worker SIGKILLed after its grant
 * request reached a rotating provider and before the answer was stored (README, "Crash window").
 * Outside strict mode such losses are attributed, printed and allowed; every other loss still fails.
 */
const long = process.env.SOAK_MODE === 'long';
const strict = long || process.env.SOAK_STRICT === '1';
const mode = long ? LONG : SHORT;

describe(`chaos soak (${long ? 'long' : 'short'} mode${strict ? ', strict' : ''})`, () => {
  it(
    'loses nothing, presents no refresh token twice and serves no expired token',
    async () => {
      const report = await runSoak({ ...mode, log: (line) => process.stdout.write(`[soak] ${line}\n`) });
      process.stdout.write(`\n${formatReport(report)}\n`);
      const window = strict ? 0 : report.credentialsLostToCrashWindow;
      expect(report.credentialsLost - window).toBe(0);
      expect(report.refreshTokensPresentedTwice - window).toBe(0);
      expect(
        report.expiredOrInactiveServed - (strict ? 0 : report.badTokensOfCredentialsLostToCrashWindow),
      ).toBe(0);
      expect(report.historiesWithGapsOrDuplicates).toBe(0);
      expect(report.workerKills).toBeGreaterThan(0);
      expect(report.redisKills).toBe(1);
      expect(report.refreshesPerformed).toBeGreaterThan(mode.credentials);
    },
    mode.chaosMs + mode.settleMs + 240_000,
  );
});
