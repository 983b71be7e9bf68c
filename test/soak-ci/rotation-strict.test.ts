import { describe, expect, it } from 'vitest';
import { CI_FAULTS, CI_SOAK_TIMEOUT_MS, expectSoakHeld, runCiSoak } from './ci-soak.js';

/**
 * Soak (a): a strict rotating provider (oidc-provider: reuse of a rotated refresh token revokes
 * the grant) behind 20 % 5xx and 10 % of answers held past the grant timeout after the rotation,
 * a CPU-burning neighbour, one Redis SIGKILL + restart from its AOF and one api restart, no worker
 * SIGKILL. No answer is lost for good here, so nothing may be: zero credentials lost, zero refresh
 * tokens presented twice (the proxy's record), zero bad tokens served (introspection).
 */
describe('rotation soak (a): strict provider, late answers, Redis and api restarts', () => {
  it(
    'loses no credential, presents no refresh token twice and serves no bad token',
    async () => {
      const r = await runCiSoak('soak-strict', {
        provider: 'strict',
        rotation: { mode: 'strict' },
        faults: CI_FAULTS,
        workerKills: false,
      });
      expect(r.presentedTwice).toHaveLength(0);
      expectSoakHeld(r);
    },
    CI_SOAK_TIMEOUT_MS,
  );
});
