import type { Server } from 'node:http';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleDestroy,
} from '@nestjs/common';
import type { AppConfig } from '#common';
import { CONFIG, REDIS } from '#runtime';
import { KeySpace, type RedisClient } from '#store';
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from '#telemetry';
import { readFeedConsumerLag } from '#webhooks';
import { TokenRefreshProcessor } from '../token-refresh.processor.js';
import { type HealthResponse, type HealthRoutes, startHealthServer } from './health-server.js';

const CHECK_TIMEOUT_MS = 1_000;

type Check = { status: 'up' | 'down' } & Record<string, unknown>;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The worker's probes on TK_WORKER_HEALTH_PORT (off when 0): `/health/live` answers while the
 * process runs; `/health/ready` checks Redis (PING), that the refresh worker runs and is not
 * closing, and the `webhooks` consumer group's lag on the event feed (TK_READY_MAX_FEED_LAG).
 * Both answer 503 from the moment shutdown starts, so no new traffic or restarts are aimed here.
 * Bodies follow terminus' shape (`status`, `details`) and never carry a secret.
 */
@Injectable()
export class WorkerHealthService implements OnApplicationBootstrap, OnModuleDestroy, OnApplicationShutdown {
  private readonly logger = new Logger(WorkerHealthService.name);
  private server: Server | undefined;
  private stopping = false;

  constructor(
    @Inject(CONFIG) private readonly config: AppConfig,
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly keys: KeySpace,
    private readonly refreshProcessor: TokenRefreshProcessor,
  ) {}

  /** The routes served; add one here (e.g. `/metrics`) to serve it on the same port. */
  routes(): HealthRoutes {
    return {
      '/health/live': () => this.live(),
      '/health/ready': () => this.ready(),
      // This worker's refresh and delivery metrics (Prometheus text); see docs/operations.md.
      '/metrics': async () => ({
        status: 200,
        body: await renderPrometheus(),
        contentType: PROMETHEUS_CONTENT_TYPE,
      }),
    };
  }

  async onApplicationBootstrap(): Promise<void> {
    const { healthPort, healthHost } = this.config.worker;
    if (healthPort === 0) return;
    this.server = await startHealthServer(healthHost, healthPort, this.routes());
    this.logger.log({ msg: 'health server listening', host: healthHost, port: healthPort });
  }

  /** The first shutdown hook Nest calls: from here on both probes answer 503. */
  onModuleDestroy(): void {
    this.stopping = true;
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  live(): HealthResponse {
    if (this.stopping) return { status: 503, body: { status: 'shutting_down' } };
    return { status: 200, body: { status: 'ok', info: {}, error: {}, details: {} } };
  }

  async ready(): Promise<HealthResponse> {
    if (this.stopping) return { status: 503, body: { status: 'shutting_down' } };
    const checks = await Promise.all([
      this.check('redis', async () => ({ status: 'up', ping: await this.redis.ping() })),
      this.check('refreshWorker', async () => this.refreshWorker()),
      this.check('feedConsumer', async () => this.feedConsumer()),
    ]);
    const details = Object.fromEntries(checks);
    const down = checks.filter(([, c]) => c.status === 'down');
    return {
      status: down.length === 0 ? 200 : 503,
      body: {
        status: down.length === 0 ? 'ok' : 'error',
        info: Object.fromEntries(checks.filter(([, c]) => c.status === 'up')),
        error: Object.fromEntries(down),
        details,
      },
    };
  }

  private async check(name: string, run: () => Promise<Check>): Promise<[string, Check]> {
    try {
      return [name, await withTimeout(run(), CHECK_TIMEOUT_MS)];
    } catch (err) {
      return [name, { status: 'down', message: (err as Error).message }];
    }
  }

  private refreshWorker(): Check {
    const worker = this.refreshProcessor.worker;
    const running = worker.isRunning();
    const closing = worker.closing !== undefined;
    return { status: running && !closing ? 'up' : 'down', running, closing };
  }

  private async feedConsumer(): Promise<Check> {
    const lag = await readFeedConsumerLag(this.redis, this.keys);
    const max = this.config.readyMaxFeedLag;
    const behind = lag.lag + lag.pending;
    return { status: max > 0 && behind > max ? 'down' : 'up', ...lag, max };
  }
}
