import { boundText } from '#core';
import { runAsLeader } from './leader.js';
import type { CredentialScanPort, LeaderLockPort, PlannedJobsPort } from './ports.js';
import { type PlannedJob, plannedRefresh } from './refresh-scheduler.js';

export interface SweepResult {
  checked: number;
  /** Plans with no job at all (lost job, crash between persist and enqueue). */
  restored: string[];
  /** Delayed jobs long past due (no worker promoted them, or the host slept). */
  promoted: string[];
  /** How many plans the sweep could not repair: one that fails does not stop the sweep. */
  failures: number;
  /**
   * The first of them (at most MAX_REPORTED_FAILURES), with the reason (the error's message,
   * bounded): when the queue refuses every plan, the report stays small.
   */
  failed: { jobId: string; reason: string }[];
}

/** How many failed plans a sweep's report names. */
export const MAX_REPORTED_FAILURES = 20;

export interface SweepOptions {
  /** A delayed job this late is promoted. */
  overdueMs: number;
  now?: () => number;
}

/**
 * Repairs the schedule: every credential that should be refreshing has its planned job, and no
 * planned job sits overdue. Safe to run on every worker at once (adding a planned job twice is a
 * no-op); a leader lock just saves the duplicate reads.
 */
export class ScheduleSweeper {
  constructor(
    private readonly store: CredentialScanPort,
    private readonly jobs: PlannedJobsPort,
    private readonly leader: LeaderLockPort,
    private readonly options: SweepOptions,
  ) {}

  /** Runs one sweep if no other process holds the sweep lock for this period. */
  sweepIfLeader(periodMs: number): Promise<SweepResult | undefined> {
    const ttlMs = Math.max(1000, Math.floor(periodMs * 0.9));
    return runAsLeader(this.leader, 'sweep-lock', ttlMs, () => this.sweepOnce(), { holdForTtl: true });
  }

  async sweepOnce(): Promise<SweepResult> {
    const result: SweepResult = { checked: 0, restored: [], promoted: [], failures: 0, failed: [] };
    const now = this.options.now ?? Date.now;
    for (let partition = 0; partition < this.store.keys.partitions; partition++) {
      for await (const ids of this.store.idsOfPartition(partition)) {
        const projections = await this.store.getMany(ids);
        for (const p of projections) {
          const plan = p && plannedRefresh(p);
          if (!plan) continue;
          result.checked += 1;
          try {
            await this.repair(plan, now(), result);
          } catch (err) {
            result.failures += 1;
            if (result.failed.length >= MAX_REPORTED_FAILURES) continue;
            result.failed.push({
              jobId: plan.jobId,
              reason: boundText((err as Error).message ?? String(err)),
            });
          }
        }
      }
    }
    return result;
  }

  private async repair(plan: PlannedJob, now: number, result: SweepResult): Promise<void> {
    const state = await this.jobs.jobState(plan.jobId);
    if (state === 'unknown' || state === 'completed' || state === 'failed') {
      if (state !== 'unknown') await this.jobs.remove(plan.jobId);
      await this.jobs.add(plan);
      result.restored.push(plan.jobId);
    } else if (state === 'delayed' && plan.runAt < now - this.options.overdueMs) {
      await this.jobs.promote(plan.jobId);
      result.promoted.push(plan.jobId);
    }
  }
}
