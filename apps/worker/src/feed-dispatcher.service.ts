import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { FeedDispatcher } from '#webhooks';

const CLAIM_EVERY_MS = 10_000;

/**
 * Runs the webhook feed dispatcher on this worker: a loop of blocking consumer-group reads (on a
 * connection of the feed source's own), first over this consumer's unacknowledged backlog, then
 * new entries, and now and then a take-over of entries a dead worker left behind.
 */
@Injectable()
export class FeedDispatcherService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(FeedDispatcherService.name);
  private stopping = false;
  private loop: Promise<void> | undefined;

  constructor(private readonly dispatcher: FeedDispatcher) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.dispatcher.ensureGroups();
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    let lastClaim = 0;
    let backlogDone = false;
    while (!this.stopping) {
      try {
        if (!backlogDone) {
          backlogDone = (await this.dispatcher.readAndDispatch('pending')) === 0;
          continue;
        }
        if (Date.now() - lastClaim > CLAIM_EVERY_MS) {
          lastClaim = Date.now();
          const claimed = await this.dispatcher.claimAbandoned();
          if (claimed > 0) this.logger.warn({ msg: 'took over unacknowledged feed entries', count: claimed });
        }
        await this.dispatcher.readAndDispatch('new');
      } catch (err) {
        if (this.stopping) return;
        const message = String((err as Error).message);
        // The group disappears if the feed key was deleted (a wiped Redis): create it again.
        if (message.includes('NOGROUP')) await this.dispatcher.ensureGroups().catch(() => undefined);
        else this.logger.error({ msg: 'feed dispatch failed; retrying', err });
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    // Cuts a blocked read short; unacknowledged entries are read again by this consumer or claimed by another.
    this.dispatcher.close();
    await this.loop;
  }
}
