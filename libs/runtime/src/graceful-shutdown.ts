import { setTimeout as sleep } from 'node:timers/promises';
import type { INestApplicationContext } from '@nestjs/common';
import type { Logger } from 'pino';
import { shutdownTelemetry } from '#telemetry';

/** How long a stopping process waits for its telemetry exporters to flush. */
const TELEMETRY_FLUSH_MS = 2_000;

export interface GracefulShutdownOptions {
  /** How long closing may take before the process gives up and exits 1 (TK_SHUTDOWN_TIMEOUT_MS). */
  timeoutMs: number;
  signals?: NodeJS.Signals[];
  /** Runs first, synchronously, when the signal arrives (health servers start answering 503). */
  onSignal?: () => void;
  /**
   * Past the deadline, the process keeps waiting while this says so (checked every second): a
   * worker holding a grant result it has not stored yet must not exit and lose it.
   */
  holdOpen?: () => boolean;
}

/**
 * Replaces Nest's `enableShutdownHooks`, which re-raises the signal after closing (so the process
 * ends "killed by SIGTERM", not with exit code 0) and has no deadline. On the first SIGTERM or
 * SIGINT the app closes (Nest's hooks: the api drains requests and ends event streams, workers
 * finish their active jobs and close their connections), then the process exits 0; past the
 * deadline it exits 1, and jobs still active go back to the queue when their lock lapses.
 */
export function exitOnShutdownSignals(
  app: INestApplicationContext,
  logger: Logger,
  options: GracefulShutdownOptions,
): void {
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    const started = Date.now();
    logger.info({ signal, timeoutMs: options.timeoutMs }, 'shutting down');
    options.onSignal?.();
    const giveUp = () => {
      if (options.holdOpen?.()) {
        logger.warn({ signal }, 'shutdown deadline passed while a refresh stores its result; waiting for it');
        deadline = setTimeout(giveUp, 1_000);
        return;
      }
      // What still holds the process open (sockets, timers) tells which close step hung.
      const pending = process.getActiveResourcesInfo();
      logger.error({ signal, timeoutMs: options.timeoutMs, pending }, 'shutdown deadline passed; exiting');
      process.exit(1);
    };
    let deadline = setTimeout(giveUp, options.timeoutMs);
    app.close().then(
      async () => {
        clearTimeout(deadline);
        logger.info({ ms: Date.now() - started }, 'stopped');
        // Spans still buffered for the exporter go out before the process ends (bounded).
        await Promise.race([
          shutdownTelemetry().catch(() => undefined),
          sleep(TELEMETRY_FLUSH_MS, undefined, { ref: false }),
        ]);
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  for (const signal of options.signals ?? ['SIGTERM', 'SIGINT']) process.on(signal, shutdown);
}
