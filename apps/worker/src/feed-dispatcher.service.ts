import { setTimeout as sleep } from 'node:timers/promises';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  Optional,
} from '@nestjs/common';
import { FeedDispatcher } from '#webhooks';

/** The loop's timing; production uses FEED_LOOP_DEFAULTS, tests a clock and waits of their own. */
export interface FeedLoopTiming {
  /** How long the loop waits after a failed read or dispatch before it tries again. */
  retryWaitMs: number;
  /** Abandoned entries are taken over at most once per this period. */
  claimEveryMs: number;
  now: () => number;
  /** Waits `ms`, or less: it resolves as soon as `signal` aborts (at shutdown). */
  wait: (ms: number, signal: AbortSignal) => Promise<void>;
}

export const FEED_LOOP_DEFAULTS: FeedLoopTiming = {
  retryWaitMs: 1_000,
  claimEveryMs: 10_000,
  now: Date.now,
  wait: (ms, signal) => sleep(ms, undefined, { signal }).catch(() => undefined),
};

/** Optional provider of a `Partial<FeedLoopTiming>`; nothing provides it in production. */
export const FEED_LOOP_TIMING = Symbol('FEED_LOOP_TIMING');

/**
 * Runs the webhook feed dispatcher on this worker: a loop of blocking consumer-group reads (on a
 * connection of the feed source's own), first over this consumer's unacknowledged backlog, then
 * new entries, and now and then a take-over of entries a dead worker left behind.
 */
@Injectable()
export class FeedDispatcherService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(FeedDispatcherService.name);
  private readonly timing: FeedLoopTiming;
  private readonly stopped = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    private readonly dispatcher: FeedDispatcher,
    @Optional() @Inject(FEED_LOOP_TIMING) timing: Partial<FeedLoopTiming> = {},
  ) {
    this.timing = { ...FEED_LOOP_DEFAULTS, ...timing };
  }

  private get stopping(): boolean {
    return this.stopped.signal.aborted;
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.dispatcher.ensureGroups();
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const { now, claimEveryMs, retryWaitMs, wait } = this.timing;
    let lastClaim = Number.NEGATIVE_INFINITY;
    let backlogDone = false;
    while (!this.stopping) {
      try {
        if (!backlogDone) {
          backlogDone = (await this.dispatcher.readAndDispatch('pending')) === 0;
          continue;
        }
        if (now() - lastClaim > claimEveryMs) {
          lastClaim = now();
          const claimed = await this.dispatcher.claimAbandoned();
          if (claimed > 0) this.logger.warn({ msg: 'took over unacknowledged feed entries', count: claimed });
          // Shutdown may have closed the source while the claim ran: nothing is read after close.
          if (this.stopping) return;
        }
        await this.dispatcher.readAndDispatch('new');
      } catch (err) {
        if (this.stopping) return;
        // Entries this consumer read but could not dispatch stay pending for it: read its backlog
        // again first, rather than leaving them until another worker claims them as abandoned.
        backlogDone = false;
        const message = err instanceof Error ? err.message : String(err);
        // The group disappears if the feed key was deleted (a wiped Redis): create it again.
        if (message.includes('NOGROUP')) await this.dispatcher.ensureGroups().catch(() => undefined);
        else this.logger.error({ msg: 'feed dispatch failed; retrying', err });
        await wait(retryWaitMs, this.stopped.signal);
      }
    }
  }

  async onApplicationShutdown(): Promise<void> {
    // Ends a retry wait at once.
    this.stopped.abort();
    // Cuts a blocked read short; unacknowledged entries are read again by this consumer or claimed by another.
    this.dispatcher.close();
    await this.loop;
  }
}
