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

/** Runs the schedule sweep every period on whichever worker takes the lock first. */
@Injectable()
export class ScheduleSweepService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ScheduleSweepService.name);
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly sweeper: ScheduleSweeper,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    const period = this.config.sweepIntervalMs;
    // The first sweep runs soon after start so a restarted fleet repairs itself quickly.
    this.timer = setTimeout(() => this.tick(period), Math.min(period, 5_000));
  }

  private tick(period: number): void {
    this.running = this.sweeper
      .sweepIfLeader(this.redis, period)
      .then((result) => {
        if (result && (result.restored.length > 0 || result.promoted.length > 0)) {
          this.logger.warn({
            msg: 'schedule repaired',
            checked: result.checked,
            restored: result.restored.length,
            promoted: result.promoted.length,
          });
        }
      })
      .catch((err: Error) => this.logger.error({ msg: 'schedule sweep failed', err }))
      .finally(() => {
        if (this.timer) this.timer = setTimeout(() => this.tick(period), period);
      });
  }

  async onApplicationShutdown(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
