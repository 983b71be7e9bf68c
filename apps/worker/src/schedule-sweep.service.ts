import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { AppConfig } from '#common';
import { ScheduleSweeper } from '#refresh';
import { CONFIG, REDIS } from '#runtime';
import { PeriodicTask } from './periodic-task.js';

/** Runs the schedule sweep every period on whichever worker takes the lock first. */
@Injectable()
export class ScheduleSweepService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ScheduleSweepService.name);
  private task: PeriodicTask | undefined;

  constructor(
    private readonly sweeper: ScheduleSweeper,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    const period = this.config.sweepIntervalMs;
    // The first sweep runs soon after start so a restarted fleet repairs itself quickly.
    this.task = new PeriodicTask(() => this.sweep(period), period, Math.min(period, 5_000));
    this.task.start();
  }

  private async sweep(period: number): Promise<void> {
    try {
      const result = await this.sweeper.sweepIfLeader(this.redis, period);
      if (result && (result.restored.length > 0 || result.promoted.length > 0)) {
        this.logger.warn({
          msg: 'schedule repaired',
          checked: result.checked,
          restored: result.restored.length,
          promoted: result.promoted.length,
        });
      }
    } catch (err) {
      this.logger.error({ msg: 'schedule sweep failed', err });
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.task?.stop();
  }
}
