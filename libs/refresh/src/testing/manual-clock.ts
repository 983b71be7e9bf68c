import type { Clock } from '../ports.js';

interface Timer {
  at: number;
  fn: () => void;
  every?: number;
}

/**
 * A clock that moves only when told to. `advance` runs the timers that fall due on the way, in
 * order, letting pending promise chains settle after each; `jump` moves time without running any
 * (an event-loop stall).
 */
export class ManualClock implements Clock {
  private timers: Timer[] = [];

  constructor(private t = Date.UTC(2026, 0, 1)) {}

  now(): number {
    return this.t;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.timers.push({ at: this.t + ms, fn: resolve }));
  }

  every(ms: number, fn: () => void): () => void {
    const timer: Timer = { at: this.t + ms, fn, every: ms };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await settle();
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.t = Math.max(this.t, due.at);
      if (due.every) due.at += due.every;
      else this.timers = this.timers.filter((t) => t !== due);
      due.fn();
      await settle();
    }
    this.t = end;
    await settle();
  }

  /** Moves time without running timers: what a stalled event loop sees when it wakes up. */
  jump(ms: number): void {
    this.t += ms;
  }
}

/** Lets every promise chain that can progress without time passing do so. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}
