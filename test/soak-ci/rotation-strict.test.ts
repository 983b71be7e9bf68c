import { expect } from 'vitest';
import { CI_FAULTS, ciSoak } from './ci-soak.js';

/**
 * Soak (a): a strict rotating provider (oidc-provider: reuse of a rotated refresh token revokes
 * the grant) behind 20 % 5xx and 10 % of answers held past the grant timeout after the rotation,
 * a CPU-burning neighbour, one Redis SIGKILL + restart from its AOF and one api restart, no worker
 * SIGKILL. No answer is lost for good here, so nothing may be: zero credentials lost, zero refresh
 * tokens presented twice (the proxy's record), zero bad tokens served (introspection).
 */
ciSoak(
  {
    describe: 'rotation soak (a): strict provider, late answers, Redis and api restarts',
    it: 'loses no credential, presents no refresh token twice and serves no bad token',
    label: 'soak-strict',
  },
  { provider: 'strict', rotation: { mode: 'strict' }, faults: CI_FAULTS, workerKills: false },
  (r) => expect(r.presentedTwice).toHaveLength(0),
);
