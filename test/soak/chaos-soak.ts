import { attributeLoss, type LossAttribution, lastRotation } from './loss-attribution.js';
import { type RotationSoakOptions, type RotationSoakResult, runRotationSoak } from './rotation-soak.js';

export type SoakOptions = Pick<
  RotationSoakOptions,
  | 'credentials'
  | 'chaosMs'
  | 'settleMs'
  | 'budgetMs'
  | 'workers'
  | 'apis'
  | 'readers'
  | 'accessTokenTtl'
  | 'log'
>;

export const SHORT: SoakOptions = {
  credentials: 200,
  chaosMs: 90_000,
  settleMs: 60_000,
  budgetMs: 360_000,
  workers: 3,
  apis: 2,
  readers: 20,
  accessTokenTtl: 15,
};
export const LONG: SoakOptions = {
  ...SHORT,
  credentials: 2_000,
  chaosMs: 15 * 60_000,
  settleMs: 120_000,
  budgetMs: 25 * 60_000,
};

export interface SoakReport {
  result: RotationSoakResult;
  attributions: LossAttribution[];
  /** Losses the evidence puts in the crash window of a SIGKILLed worker. */
  crashWindow: LossAttribution[];
  /** Every other loss: each one is a bug. */
  unexplained: LossAttribution[];
  /** Refresh tokens presented twice that are not the lost token of a crash-window loss. */
  unexplainedReuse: number;
}

/**
 * The chaos soak: the strict rotating provider (oidc-provider) behind 20 % 5xx, 2 % hangs, 5 %
 * of answers held past the grant timeout after the rotation, latency; a worker SIGKILLed every
 * 10–20 s, Redis SIGKILLed and restarted once, an api restarted once, a CPU-burning neighbour.
 * A worker killed with a grant in flight can lose a rotated refresh token no client can recover
 * from a strict provider; every such loss must be proven by evidence (see loss-attribution.ts).
 */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const result = await runRotationSoak({
    ...options,
    provider: 'strict',
    rotation: { mode: 'strict' },
    faults: {
      failureRate: 0.2,
      failureStatus: 503,
      hangRate: 0.02,
      heldAfterForward: 0.05,
      holdMs: 4_000,
      latencyMs: 10,
      latencyJitterMs: 90,
    },
    workerKills: true,
    cpuNeighbour: true,
    env: {
      TK_GRANT_TIMEOUT_MS: '2000',
      TK_GRANT_DEADLINE_MS: '8000',
      TK_LEASE_TTL_MS: '9000',
      TK_JOB_LOCK_MS: '9000',
    },
  });
  const attributions = result.lost.map((lost) => attributeLoss(lost, result.record, result.kills));
  const crashWindow = attributions.filter((a) => a.verdict === 'crash-window');
  // A crash-window loss re-presents its last token once: those reuses are accounted for.
  const explainedTokens = new Set(
    result.lost
      .filter((l) => crashWindow.some((a) => a.id === l.id))
      .map((l) => lastRotation(l.initialToken, result.record)?.token),
  );
  return {
    result,
    attributions,
    crashWindow,
    unexplained: attributions.filter((a) => a.verdict === 'unexplained'),
    unexplainedReuse: result.presentedTwice.filter((t) => !explainedTokens.has(t)).length,
  };
}

export function formatReport(r: SoakReport): string {
  const x = r.result;
  const rows: [string, unknown][] = [
    ['credentials', x.credentials],
    ['refreshes', x.refreshes],
    ['presentations', x.presentations],
    ['credentialsLost', x.lost.length],
    ['lostToCrashWindow', r.crashWindow.length],
    ['  of which answer never reached', r.crashWindow.filter((a) => !a.answerReachedWorker).length],
    ['lostUnexplained', r.unexplained.length],
    ['refreshTokensPresentedTwice', x.presentedTwice.length],
    ['unexplainedReuse', r.unexplainedReuse],
    ['badTokensServed', x.badTokens.length],
    ['historiesWithGaps', x.historiesWithGaps],
    ['grantP50Ms', x.grantP50Ms],
    ['grantP99Ms', x.grantP99Ms],
    ['readerReads', x.reads],
    ['workerKills', x.kills.length],
    ['redisKills', x.redisKills],
    ['apiRestarts', x.apiRestarts],
    ['faultsBeforeForward', x.faultsBeforeForward],
    ['faultsAfterForward', x.faultsAfterForward],
    ['wallSeconds', Math.round(x.wallMs / 1000)],
  ];
  const lines = rows.map(([k, v]) => `${k.padEnd(32)} ${v}`);
  for (const a of r.unexplained.slice(0, 10)) lines.push(`unexplained ${a.id}: ${a.reason}`);
  return lines.join('\n');
}
