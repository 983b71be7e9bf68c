import { InjectQueue } from '@nestjs/bullmq';
import { Controller, Get, Inject, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import type { Queue } from 'bullmq';
import type { FastifyReply } from 'fastify';
import type { Redis } from 'ioredis';
import type { AppConfig } from '#common';
import { QueueName, type RefreshJobData } from '#queues';
import { CONFIG, REDIS } from '#runtime';
import { CredentialStore, KeySpace } from '#store';
import { readFeedConsumerLag } from '#webhooks';
import { Public } from '../auth/principal.js';
import { criticalCredentialStatus } from './critical-credentials.js';

/**
 * Liveness (the process answers) and readiness (Redis and the refresh queue answer, the
 * `webhooks` consumer group is at most TK_READY_MAX_FEED_LAG entries behind the event feed, and
 * every credential listed in TK_READY_CRITICAL_CREDENTIALS holds a valid token).
 */
@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    @Inject(REDIS) private readonly redis: Redis,
    @InjectQueue(QueueName.TokenRefresh) private readonly queue: Queue<RefreshJobData>,
    @Inject(CONFIG) private readonly config: AppConfig,
    private readonly store: CredentialStore,
    private readonly keys: KeySpace,
  ) {}

  @Get('live')
  @HealthCheck()
  live() {
    return this.health.check([]);
  }

  /**
   * Answers terminus' own body on 503 too (which check is down, and why), rather than letting
   * the problem-details filter reduce it to a bare "Service Unavailable".
   */
  @Get('ready')
  @HealthCheck()
  async ready(@Res() reply: FastifyReply): Promise<void> {
    void reply.header('cache-control', 'no-store');
    try {
      await reply.send(await this.readiness());
    } catch (err) {
      if (!(err instanceof ServiceUnavailableException)) throw err;
      await reply.status(503).send(err.getResponse());
    }
  }

  private readiness() {
    return this.health.check([
      () =>
        this.indicators
          .check('redis')
          .attempt(async () => ({ ping: await this.redis.ping() }))
          .withTimeout(1000),
      () =>
        this.indicators
          .check('refreshQueue')
          .attempt(async () => {
            const counts = await this.queue.getJobCounts('waiting', 'delayed', 'active');
            return { ...counts };
          })
          .withTimeout(1000),
      () => this.feedConsumer(),
      ...(this.config.readyCriticalCredentials.length > 0 ? [() => this.criticalCredentials()] : []),
    ]);
  }

  /** Entries the webhook dispatchers have not handled yet; no group yet (no worker ever ran) is not lag. */
  private feedConsumer() {
    return this.indicators
      .check('feedConsumer')
      .attempt(async () => {
        const lag = await readFeedConsumerLag(this.redis, this.keys);
        const max = this.config.readyMaxFeedLag;
        if (max > 0 && lag.lag + lag.pending > max)
          throw new Error(`webhooks consumer group is ${lag.lag + lag.pending} entries behind (max ${max})`);
        return { ...lag, max };
      })
      .withTimeout(1000);
  }

  private async criticalCredentials() {
    const indicator = this.indicators.check('criticalCredentials');
    const ids = this.config.readyCriticalCredentials;
    const now = Date.now();
    const statuses = await Promise.all(
      ids.map(async (id) => criticalCredentialStatus(id, await this.store.getProjection(id), now)),
    );
    const credentials = Object.fromEntries(statuses.map(({ id, ...s }) => [id, s]));
    return statuses.every((s) => s.ready) ? indicator.up({ credentials }) : indicator.down({ credentials });
  }
}
