import type { HeldLock } from '#store';
import type { Clock, LeaderLockPort, PlannedJobsPort } from '../ports.js';
import type { PlannedJob } from '../refresh-scheduler.js';
import { ExpiringLocks } from './expiring-locks.js';

/** Named leader locks that lapse by the clock, owner-checked like the Redis ones. */
export class InMemoryLeaderLock implements LeaderLockPort {
  private readonly locks: ExpiringLocks;

  constructor(clock: Clock) {
    this.locks = new ExpiringLocks(clock);
  }

  holder(name: string): string | undefined {
    return this.locks.owner(name);
  }

  async acquire(name: string, ttlMs: number): Promise<HeldLock | undefined> {
    const owner = this.locks.take(name, ttlMs);
    return owner ? { name, owner } : undefined;
  }

  async extend(lock: HeldLock, ttlMs: number): Promise<boolean> {
    return this.locks.renew(lock.name, lock.owner, ttlMs);
  }

  async release(lock: HeldLock): Promise<boolean> {
    return this.locks.drop(lock.name, lock.owner);
  }
}

/** Refresh jobs by id with their BullMQ-like state; `add` of an existing id is a no-op, as on the queue. */
export class InMemoryJobs implements PlannedJobsPort {
  readonly jobs = new Map<string, { plan: PlannedJob; state: string }>();

  async add(plan: PlannedJob): Promise<void> {
    if (!this.jobs.has(plan.jobId)) this.jobs.set(plan.jobId, { plan, state: 'delayed' });
  }

  async jobState(jobId: string): Promise<string> {
    return this.jobs.get(jobId)?.state ?? 'unknown';
  }

  async remove(jobId: string): Promise<void> {
    this.jobs.delete(jobId);
  }

  async promote(jobId: string): Promise<void> {
    const job = this.jobs.get(jobId);
    if (job?.state === 'delayed') job.state = 'waiting';
  }
}
