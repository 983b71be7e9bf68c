import type { Job, Queue } from 'bullmq';
import { type CredentialProjection, isRefreshing, type RefreshTrigger } from '#core';
import { parseJobData, QueueName, type RefreshJobData, RefreshJobName, refreshJobId } from '#queues';
import type { CredentialSchedulerPort, PlannedJobsPort } from './ports.js';

export interface PlannedJob {
  jobId: string;
  runAt: number;
  data: RefreshJobData;
}

/** The scheduled job a credential should have right now, derived from its projection alone. */
export function plannedRefresh(p: CredentialProjection): PlannedJob | undefined {
  if (!isRefreshing(p.state)) return undefined;
  const tokenVersion = p.token?.tokenVersion ?? 0;
  const attempt = p.failures;
  const runAt =
    attempt > 0 ? (p.lastFailure?.nextAttemptAt ?? p.updatedAt) : p.token ? p.token.refreshAt : p.createdAt;
  const trigger: RefreshTrigger = p.token ? 'scheduled' : 'registration';
  const data: RefreshJobData = {
    credentialId: p.id,
    tokenVersion,
    attempt,
    trigger,
    dueAt: runAt,
    demand: false,
  };
  return { jobId: refreshJobId(data), runAt, data };
}

const JOB_OPTIONS = {
  removeOnComplete: true,
  // Failed jobs (infrastructure errors only: grant failures are handled, not thrown) stay an hour
  // for inspection in Bull Board; the sweep replaces them.
  removeOnFail: { age: 3600 },
  attempts: 5,
  backoff: { type: 'exponential', delay: 1000 },
} as const;

/** Puts refresh jobs on the queue. Jobs carry ids only; adding an already-queued plan is a no-op. */
export class RefreshScheduler implements CredentialSchedulerPort, PlannedJobsPort {
  constructor(
    private readonly queue: Queue<RefreshJobData>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Enqueues the credential's planned scheduled refresh (first refresh, next refresh, or retry). */
  async schedule(p: CredentialProjection): Promise<PlannedJob | undefined> {
    const plan = plannedRefresh(p);
    if (!plan) return undefined;
    await this.add(plan);
    return plan;
  }

  /**
   * Asks for a refresh now, shared by every caller that asks before it completes: manual
   * refreshes, on-demand token reads below runway and invalidations all map to one job id.
   */
  async demand(p: CredentialProjection, trigger: RefreshTrigger): Promise<PlannedJob> {
    const data: RefreshJobData = {
      credentialId: p.id,
      tokenVersion: p.token?.tokenVersion ?? 0,
      attempt: p.failures,
      trigger,
      dueAt: this.now(),
      demand: true,
    };
    const plan = { jobId: refreshJobId(data), runAt: data.dueAt, data };
    await this.add(plan);
    return plan;
  }

  /** Removes the jobs planned for a credential (on delete). Stale leftovers are no-ops anyway. */
  async cancel(p: CredentialProjection): Promise<void> {
    const plan = plannedRefresh(p);
    const ids = [
      plan?.jobId,
      refreshJobId({
        credentialId: p.id,
        tokenVersion: p.token?.tokenVersion ?? 0,
        attempt: p.failures,
        demand: true,
      }),
    ];
    for (const id of ids) if (id) await this.remove(id);
  }

  jobState(jobId: string): Promise<string> {
    return this.queue.getJobState(jobId);
  }

  /** Removes a job; one that is gone, or locked by a worker running it, stays as it is. */
  async remove(jobId: string): Promise<void> {
    await this.queue.remove(jobId).catch(() => 0);
  }

  async promote(jobId: string): Promise<void> {
    const job = await this.queue.getJob(jobId);
    await job?.promote().catch(() => undefined);
  }

  async add(plan: PlannedJob): Promise<Job<RefreshJobData>> {
    const delay = Math.max(0, plan.runAt - this.now());
    const data = parseJobData(QueueName.TokenRefresh, plan.data, 'enqueue');
    return this.queue.add(RefreshJobName, data, { ...JOB_OPTIONS, jobId: plan.jobId, delay });
  }
}
