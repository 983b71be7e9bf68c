import { InjectQueue } from '@nestjs/bullmq';
import { Controller, Get, Inject } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { QueueName, type RefreshJobData } from '#refresh';
import { REDIS } from '#runtime';
import { Public } from '../auth/principal.js';

/** Liveness (the process answers) and readiness (Redis and the refresh queue answer). */
@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    @Inject(REDIS) private readonly redis: Redis,
    @InjectQueue(QueueName.TokenRefresh) private readonly queue: Queue<RefreshJobData>,
  ) {}

  @Get('live')
  @HealthCheck()
  live() {
    return this.health.check([]);
  }

  @Get('ready')
  @HealthCheck()
  ready() {
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
    ]);
  }
}
