// First: starts OpenTelemetry before the app's modules run (see libs/telemetry/src/register.ts).
import '#telemetry/register';
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { ConfigError, createLogger, loadConfig, PinoNestLogger } from '#common';
import { RefreshService } from '#refresh';
import { assertKeyRingCoversStoredCiphertexts, exitOnShutdownSignals } from '#runtime';
import { WorkerModule } from './worker.module.js';

/** The worker: BullMQ processors for refresh jobs and the schedule sweep. No public HTTP. */
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger('worker', config.logLevel);
  await assertKeyRingCoversStoredCiphertexts(config);
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(config), {
    logger: new PinoNestLogger(logger),
  });
  const refresh = app.get(RefreshService);
  exitOnShutdownSignals(app, logger, {
    timeoutMs: config.shutdownTimeoutMs,
    // A refresh holding a successful grant is never cut: its rotated secrets exist nowhere else.
    holdOpen: () => refresh.holdsGrantResults(),
  });
  logger.info(
    {
      pid: process.pid,
      concurrency: config.worker.concurrency,
      ...(config.worker.healthPort ? { healthPort: config.worker.healthPort } : {}),
    },
    'worker started',
  );
}

main().catch((err: unknown) => {
  const logger = createLogger('worker');
  if (err instanceof ConfigError) logger.fatal(err.message);
  else logger.fatal({ err }, 'worker failed to start');
  process.exit(1);
});
