// First: starts OpenTelemetry before the app's modules run (see libs/telemetry/src/register.ts).
import '#telemetry/register';
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { ConfigError, createLogger, loadConfig, PinoNestLogger } from '#common';
import { assertKeyRingCoversStoredCiphertexts, exitOnShutdownSignals } from '#runtime';
import { ApiModule } from './api.module.js';
import { loadApiKeySecrets } from './auth/api-key-secrets.js';
import { closeConnectionsOnShutdown } from './http/close-on-shutdown.js';
import { limitJsonDepth, requireJsonBodies } from './http/json-only.js';
import { requestIdOf, setupRequestIds } from './http/request-ids.js';
import { setupOpenApi } from './openapi.js';
import { setupQueuesBoard } from './queues-board.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger('api', config.logLevel);
  const apiKeySecrets = loadApiKeySecrets(config);
  await assertKeyRingCoversStoredCiphertexts(config);
  const adapter = new FastifyAdapter({
    bodyLimit: config.api.bodyLimitBytes,
    routerOptions: { maxParamLength: 200 },
    return503OnClosing: true,
    genReqId: requestIdOf,
  });
  const app = await NestFactory.create<NestFastifyApplication>(
    ApiModule.forRoot(config, apiKeySecrets),
    adapter,
    {
      logger: new PinoNestLogger(logger),
    },
  );
  requireJsonBodies(app.getHttpAdapter().getInstance());
  limitJsonDepth(app, config.api.bodyLimitBytes);
  const startClosingConnections = closeConnectionsOnShutdown(app.getHttpAdapter().getInstance());
  setupRequestIds(app.getHttpAdapter().getInstance(), logger);
  setupOpenApi(app, config.security.publicDocs);
  await setupQueuesBoard(app);
  await app.listen(config.api.port, config.api.host);
  exitOnShutdownSignals(app, logger, {
    timeoutMs: config.shutdownTimeoutMs,
    onSignal: startClosingConnections,
  });
  logger.info({ url: await app.getUrl(), pid: process.pid }, 'api listening');
}

main().catch((err: unknown) => {
  const logger = createLogger('api');
  if (err instanceof ConfigError) logger.fatal(err.message);
  else logger.fatal({ err }, 'api failed to start');
  process.exit(1);
});
