import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { ConfigError, createLogger, loadConfig, PinoNestLogger } from '#common';
import { ApiModule } from './api.module.js';
import { requireJsonBodies } from './http/json-only.js';
import { setupOpenApi } from './openapi.js';
import { setupQueuesBoard } from './queues-board.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger('api', config.logLevel);
  const adapter = new FastifyAdapter({
    bodyLimit: config.api.bodyLimitBytes,
    routerOptions: { maxParamLength: 200 },
    return503OnClosing: true,
  });
  const app = await NestFactory.create<NestFastifyApplication>(ApiModule.forRoot(config), adapter, {
    logger: new PinoNestLogger(logger),
  });
  requireJsonBodies(app.getHttpAdapter().getInstance());
  setupOpenApi(app);
  await setupQueuesBoard(app);
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  await app.listen(config.api.port, config.api.host);
  logger.info({ url: await app.getUrl(), pid: process.pid }, 'api listening');
}

main().catch((err: unknown) => {
  const logger = createLogger('api');
  if (err instanceof ConfigError) logger.fatal(err.message);
  else logger.fatal({ err }, 'api failed to start');
  process.exit(1);
});
