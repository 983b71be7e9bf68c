import { expect } from 'vitest';
import { CI_FAULTS, ciSoak } from './ci-soak.js';

const GRACE_SECONDS = 30;

/**
 * Soak (b): a provider with a 30 s reuse grace period (as Okta's default), the faults of soak (a)
 * plus answers lost after the provider rotated (3 % connection resets, 3 % gateway 502s) and a
 * worker SIGKILL every 10–20 s. Every lost answer can be recovered by re-presenting inside the
 * window: zero credentials lost, zero reuse outside the window, zero bad tokens served.
 */
ciSoak(
  {
    describe: 'rotation soak (b): grace-period provider, lost answers, worker SIGKILLs',
    it: 'loses no credential, never reuses a refresh token outside the window and serves no bad token',
    label: 'soak-grace',
  },
  {
    provider: 'grace',
    graceSeconds: GRACE_SECONDS,
    rotation: { mode: 'grace', graceSeconds: GRACE_SECONDS },
    faults: { ...CI_FAULTS, resetAfterForward: 0.03, badGatewayAfterForward: 0.03 },
    workerKills: true,
  },
  (r) => expect(r.kills.length).toBeGreaterThanOrEqual(3),
);
