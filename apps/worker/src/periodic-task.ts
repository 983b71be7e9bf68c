import { Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';

/**
 * Runs `task` once after `firstDelayMs`, then again `periodMs` after each run ends (never two at
 * once). `stop()` cancels the next run and waits for one under way.
 */
export class PeriodicTask {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly task: () => Promise<void>,
    private readonly periodMs: number,
    private readonly firstDelayMs: number,
  ) {}

  start(): void {
    this.timer = setTimeout(() => this.tick(), this.firstDelayMs);
  }

  private tick(): void {
    this.running = this.task().finally(() => {
      if (!this.stopped) this.timer = setTimeout(() => this.tick(), this.periodMs);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}

/**
 * A task this worker runs periodically from application start to shutdown (see PeriodicTask);
 * a run that throws is logged as `<what> failed` and the next one runs as planned.
 */
export abstract class PeriodicService implements OnApplicationBootstrap, OnApplicationShutdown {
  protected readonly logger = new Logger(this.constructor.name);
  private task: PeriodicTask | undefined;

  constructor(
    private readonly what: string,
    private readonly timing: () => { periodMs: number; firstDelayMs: number },
  ) {}

  protected abstract runOnce(): Promise<void>;

  onApplicationBootstrap(): void {
    const { periodMs, firstDelayMs } = this.timing();
    this.task = new PeriodicTask(() => this.tick(), periodMs, firstDelayMs);
    this.task.start();
  }

  private async tick(): Promise<void> {
    try {
      await this.runOnce();
    } catch (err) {
      this.logger.error({ msg: `${this.what} failed`, err });
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.task?.stop();
  }
}
