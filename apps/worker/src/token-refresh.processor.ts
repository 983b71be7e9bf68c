import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, Logger, type OnModuleInit } from '@nestjs/common';
import { DelayedError, type Job } from 'bullmq';
import { type AppConfig, loadConfig } from '#common';
import { processableJobData, QueueName, type RefreshJobData } from '#queues';
import { RefreshService } from '#refresh';
import { CONFIG } from '#runtime';
import { traceRefresh } from '#telemetry';

/**
 * Worker options are fixed when the decorator runs, before Nest injects anything, so they are read
 * from the (already validated) environment here. A job whose worker died is handed to another
 * after its lock lapses: `lockDuration`, checked every `stalledInterval`.
 */
function workerOptions() {
  let lockMs = 30_000;
  try {
    lockMs = loadConfig().worker.lockMs;
  } catch {
    // main() loads the configuration again and reports what is wrong with it.
  }
  return { lockDuration: lockMs, stalledInterval: lockMs };
}

/** Runs refresh jobs: checks the payload (a malformed one fails for good), calls the use case, reports. All decisions live in RefreshService. */
@Processor(QueueName.TokenRefresh, workerOptions())
export class TokenRefreshProcessor extends WorkerHost implements OnModuleInit {
  private readonly logger = new Logger(TokenRefreshProcessor.name);

  constructor(
    private readonly refresh: RefreshService,
    @Inject(CONFIG) private readonly config: AppConfig,
  ) {
    super();
  }

  onModuleInit(): void {
    this.worker.concurrency = this.config.worker.concurrency;
  }

  async process(job: Job<RefreshJobData>, token?: string): Promise<string> {
    const data = processableJobData(QueueName.TokenRefresh, job, this.logger);
    // One `tokenkeeper.refresh` span per job, with the refresh metrics (outcome, duration, lateness).
    const outcome = await traceRefresh(data, () => this.refresh.run(data));
    const ids = { jobId: job.id, credentialId: data.credentialId, trigger: data.trigger };
    switch (outcome.type) {
      case 'busy':
        // Another refresh of this credential holds the lease: look again once it lapses or ends.
        await job.moveToDelayed(Date.now() + outcome.retryInMs, token);
        throw new DelayedError();
      case 'stale':
        this.logger.debug({ msg: 'refresh job no longer needed', reason: outcome.reason, ...ids });
        break;
      case 'refreshed':
        this.logger.log({
          msg: 'token refreshed',
          ...ids,
          tokenVersion: outcome.projection.token?.tokenVersion,
          expiresAt: outcome.projection.token && new Date(outcome.projection.token.expiresAt).toISOString(),
          lateMs: Date.now() - data.dueAt,
          grantMs: outcome.grantMs,
          persistMs: outcome.persistMs,
        });
        break;
      case 'failed':
        this.logger.warn({
          msg: 'refresh failed',
          ...ids,
          class: outcome.failure.class,
          code: outcome.failure.code,
          attempt: outcome.projection.failures,
          state: outcome.projection.state,
        });
        break;
    }
    return outcome.type;
  }
}
