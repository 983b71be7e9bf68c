import { describe, expect, it } from 'vitest';
import { runAsLeader } from './leader.js';
import { plannedRefresh } from './refresh-scheduler.js';
import { MAX_REPORTED_FAILURES, ScheduleSweeper } from './schedule-sweeper.js';
import { InMemoryCredentials } from './testing/in-memory-credentials.js';
import { InMemoryJobs, InMemoryLeaderLock } from './testing/in-memory-jobs.js';
import { ManualClock } from './testing/manual-clock.js';
import { registeredEvent } from './testing/registered-event.js';

describe('runAsLeader', () => {
  it('leader: one process runs the task; another trying meanwhile gets undefined without running it', async () => {
    const clock = new ManualClock();
    const locks = new InMemoryLeaderLock(clock);
    let release!: () => void;
    const first = runAsLeader(
      locks,
      'job',
      10_000,
      () => new Promise<string>((r) => (release = () => r('ran'))),
    );
    await clock.advance(0);
    let ran = false;
    expect(await runAsLeader(locks, 'job', 10_000, async () => (ran = true))).toBeUndefined();
    expect(ran).toBe(false);
    release();
    expect(await first).toBe('ran');
    // Released when the task ended: the next one runs.
    expect(await runAsLeader(locks, 'job', 10_000, async () => 'again')).toBe('again');
  });

  it('leader: renew keeps the lock past its TTL; a failing task still releases it', async () => {
    const clock = new ManualClock();
    const locks = new InMemoryLeaderLock(clock);
    const held = runAsLeader(locks, 'job', 1_000, async (renew) => {
      await clock.sleep(800);
      renew();
      await clock.sleep(800);
      expect(locks.holder('job')).toBeDefined();
      throw new Error('boom');
    });
    const outcome = held.catch((err: Error) => err.message);
    await clock.advance(2_000);
    expect(await outcome).toBe('boom');
    expect(locks.holder('job')).toBeUndefined();
  });

  it('leader: holdForTtl keeps the lock until it lapses, so the task runs once per TTL', async () => {
    const clock = new ManualClock();
    const locks = new InMemoryLeaderLock(clock);
    const opts = { holdForTtl: true };
    expect(await runAsLeader(locks, 'sweep', 5_000, async () => 1, opts)).toBe(1);
    expect(await runAsLeader(locks, 'sweep', 5_000, async () => 2, opts)).toBeUndefined();
    await clock.advance(5_000);
    expect(await runAsLeader(locks, 'sweep', 5_000, async () => 3, opts)).toBe(3);
  });
});

describe('ScheduleSweeper', () => {
  async function setup() {
    const clock = new ManualClock();
    const store = new InMemoryCredentials(clock);
    const jobs = new InMemoryJobs();
    const locks = new InMemoryLeaderLock(clock);
    const sweeper = new ScheduleSweeper(store, jobs, locks, { overdueMs: 30_000, now: () => clock.now() });
    const register = async (id: string) => {
      const { projection } = await store.append(id, undefined, [registeredEvent(id, {}, clock.now())]);
      return plannedRefresh(projection)!;
    };
    return { clock, store, jobs, locks, sweeper, register };
  }

  it('sweep: restores a lost plan, replaces a failed one, promotes an overdue one and leaves the rest', async () => {
    const t = await setup();
    const lost = await t.register('cred_lost');
    const failed = await t.register('cred_failed');
    const overdue = await t.register('cred_overdue');
    const fine = await t.register('cred_fine');
    await t.jobs.add(failed);
    t.jobs.jobs.get(failed.jobId)!.state = 'failed';
    await t.jobs.add(overdue);
    await t.jobs.add(fine);
    t.jobs.jobs.get(fine.jobId)!.state = 'active';
    await t.clock.advance(31_000);
    const result = await t.sweeper.sweepOnce();
    expect(result.checked).toBe(4);
    expect(result.restored.sort()).toEqual([failed.jobId, lost.jobId].sort());
    expect(result.promoted).toContain(overdue.jobId);
    expect(await t.jobs.jobState(lost.jobId)).toBe('delayed');
    expect(await t.jobs.jobState(failed.jobId)).toBe('delayed');
    expect(await t.jobs.jobState(fine.jobId)).toBe('active');
  });

  it('sweep: a plan that cannot be repaired is reported and the sweep goes on to the others', async () => {
    const t = await setup();
    const refused = await t.register('cred_refused');
    const lost = await t.register('cred_lost');
    const add = t.jobs.add.bind(t.jobs);
    t.jobs.add = async (plan) => {
      if (plan.jobId === refused.jobId) throw new Error('job data refused: dueAt: expected number');
      return add(plan);
    };
    const result = await t.sweeper.sweepOnce();
    expect(result.failed).toEqual([
      { jobId: refused.jobId, reason: 'job data refused: dueAt: expected number' },
    ]);
    expect(result.failures).toBe(1);
    expect(result.restored).toEqual([lost.jobId]);
    expect(await t.jobs.jobState(lost.jobId)).toBe('delayed');
  });

  it('sweep: when every plan fails (the queue refuses them all) the report counts them and keeps only the first few', async () => {
    const t = await setup();
    for (let i = 0; i < 200; i++) await t.register(`cred_${String(i).padStart(4, '0')}`);
    t.jobs.jobState = async () => {
      throw new Error(`Connection is closed. ${'x'.repeat(5_000)}`);
    };
    const result = await t.sweeper.sweepOnce();
    expect(result.checked).toBe(200);
    expect(result.failures).toBe(200);
    expect(result.failed.length).toBe(MAX_REPORTED_FAILURES);
    expect(JSON.stringify(result.failed).length).toBeLessThan(MAX_REPORTED_FAILURES * 1_024);
  });

  it('sweep: once per period across the fleet, through the sweep lock', async () => {
    const t = await setup();
    await t.register('cred_one');
    const other = new ScheduleSweeper(t.store, t.jobs, t.locks, { overdueMs: 30_000 });
    expect(await t.sweeper.sweepIfLeader(10_000)).toMatchObject({ checked: 1 });
    expect(await other.sweepIfLeader(10_000)).toBeUndefined();
    await t.clock.advance(9_000); // 0.9 of the period
    expect(await other.sweepIfLeader(10_000)).toMatchObject({ checked: 1 });
  });
});
