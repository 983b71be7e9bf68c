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
