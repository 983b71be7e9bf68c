import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '#common';
import { ScheduleSweeper } from '#refresh';
import { CONFIG } from '#runtime';
import { PeriodicService } from './periodic-task.js';

/** Runs the schedule sweep every period on whichever worker takes the lock first. */
@Injectable()
export class ScheduleSweepService extends PeriodicService {
  constructor(
    private readonly sweeper: ScheduleSweeper,
    @Inject(CONFIG) private readonly config: AppConfig,
  ) {
    // The first sweep runs soon after start so a restarted fleet repairs itself quickly.
    super('schedule sweep', () => ({
      periodMs: config.sweepIntervalMs,
      firstDelayMs: Math.min(config.sweepIntervalMs, 5_000),
    }));
  }

  protected async runOnce(): Promise<void> {
    const result = await this.sweeper.sweepIfLeader(this.config.sweepIntervalMs);
    if (result && (result.restored.length > 0 || result.promoted.length > 0)) {
      this.logger.warn({
        msg: 'schedule repaired',
        checked: result.checked,
        restored: result.restored.length,
        promoted: result.promoted.length,
      });
    }
    if (result && result.failures > 0) {
      this.logger.error({
        msg: 'schedule sweep could not repair some plans; it retries them next period',
        failed: result.failures,
        first: result.failed.slice(0, 5),
      });
    }
  }
}
