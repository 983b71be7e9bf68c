// First: starts OpenTelemetry before the app's modules run (see libs/telemetry/src/register.ts).
import '#telemetry/register';
import type { Server } from 'node:http';
import { parseArgs } from 'node:util';
import { createLogger } from '#common';
import { Agent } from './agent.js';
import { AgentConfigError } from './config/config-error.js';
import { loadAgentConfig } from './config/load-config.js';
import { startHealthServer } from './health/health-server.js';

const USAGE = 'usage: tokenkeeper-agent --config <agent.yaml> [--once]';

/**
 * The agent: runs beside an application, watches credentials through the tokenkeeper API with its
 * own key, and on every new token runs its sinks (files, commands, registrars, signals).
 */
async function main(): Promise<number | undefined> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string', short: 'c' },
      once: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!values.config) throw new AgentConfigError(`--config is required; ${USAGE}`);
  const config = loadAgentConfig(values.config);
  const logger = createLogger('agent', config.logLevel);
  const agent = new Agent(config, logger);

  if (values.once) {
    const ok = await agent.runOnce();
    await agent.stop();
    logger.info({ ok }, 'agent rendered once');
    return ok ? 0 : 1;
  }

  let server: Server | undefined;
  if (config.health)
    server = await startHealthServer(
      config.health.host,
      config.health.port,
      () => agent.health(),
      config.health.detail,
    );
  agent.start();
  const address = server?.address();
  logger.info(
    {
      pid: process.pid,
      credentials: config.credentials.length,
      ...(address && typeof address === 'object' ? { healthPort: address.port } : {}),
    },
    'agent started',
  );

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'agent stopping');
    server?.closeAllConnections();
    server?.close();
    void agent.stop().then(() => {
      logger.info('agent stopped');
      process.exit(0);
    });
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  return undefined;
}

main().then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (err: unknown) => {
    const logger = createLogger('agent');
    if (err instanceof AgentConfigError) logger.fatal({ problems: err.problems }, err.message);
    else logger.fatal({ err }, 'agent failed to start');
    process.exit(2);
  },
);
