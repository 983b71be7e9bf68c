import { describe, expect, it } from 'vitest';
import { formatReport, LONG, runSoak, SHORT } from './chaos-soak.js';

/**
 * Issue 4's chaos soak. `npm test` runs the short mode; `npm run soak:long` the long one
 * (SOAK_MODE=long: 2,000 credentials, 15 minutes of chaos).
 */
const mode = process.env.SOAK_MODE === 'long' ? LONG : SHORT;

describe(`chaos soak (${process.env.SOAK_MODE === 'long' ? 'long' : 'short'} mode)`, () => {
  it(
    'loses nothing, presents no refresh token twice and serves no expired token',
    async () => {
      const report = await runSoak({ ...mode, log: (line) => process.stdout.write(`[soak] ${line}\n`) });
      process.stdout.write(`\n${formatReport(report)}\n`);
      expect(report.credentialsLost).toBe(0);
      expect(report.refreshTokensPresentedTwice).toBe(0);
      expect(report.expiredOrInactiveServed).toBe(0);
      expect(report.historiesWithGapsOrDuplicates).toBe(0);
      expect(report.workerKills).toBeGreaterThan(0);
      expect(report.redisKills).toBe(1);
      expect(report.refreshesPerformed).toBeGreaterThan(mode.credentials);
    },
    mode.chaosMs + mode.settleMs + 240_000,
  );
});
