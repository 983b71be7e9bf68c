import { randomBytes } from 'node:crypto';
import type { HeldLock } from '#store';
import type { Clock, LeaderLockPort, PlannedJobsPort } from '../ports.js';
import type { PlannedJob } from '../refresh-scheduler.js';

/** Named leader locks that lapse by the clock, owner-checked like the Redis ones. */
export class InMemoryLeaderLock implements LeaderLockPort {
  private readonly held = new Map<string, { owner: string; expiresAt: number }>();

  constructor(private readonly clock: Clock) {}

  holder(name: string): string | undefined {
    const lock = this.held.get(name);
    return lock && lock.expiresAt > this.clock.now() ? lock.owner : undefined;
  }

  async acquire(name: string, ttlMs: number): Promise<HeldLock | undefined> {
    if (this.holder(name)) return undefined;
    const owner = randomBytes(12).toString('base64url');
    this.held.set(name, { owner, expiresAt: this.clock.now() + ttlMs });
    return { name, owner };
  }

  async extend(lock: HeldLock, ttlMs: number): Promise<boolean> {
    if (this.holder(lock.name) !== lock.owner) return false;
    this.held.set(lock.name, { owner: lock.owner, expiresAt: this.clock.now() + ttlMs });
    return true;
  }

  async release(lock: HeldLock): Promise<boolean> {
    if (this.holder(lock.name) !== lock.owner) return false;
    this.held.delete(lock.name);
    return true;
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
