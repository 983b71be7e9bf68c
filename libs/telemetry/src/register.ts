import { register } from 'node:module';
import { startTelemetry } from './telemetry.js';

/**
 * Starts telemetry before the application loads. Run it as a preload:
 * `node --import ./dist/libs/telemetry/src/register.js dist/apps/api/src/main.js`. ES modules
 * bind their imports before any code runs, so only a preload lets the loader hook patch
 * `node:http` for the outbound fetch (spans of token-endpoint, webhook and Vault calls). Each
 * app's main.ts imports this module first as well: without the preload, that still gives
 * metrics, the app's own spans and spans of incoming requests.
 */
const preloaded = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) =>
  a.includes('telemetry/src/register'),
);
if (preloaded) {
  // Hook only what the HTTP instrumentation patches: wrapping every module costs start-up time.
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, {
    data: { include: ['http', 'https', 'node:http', 'node:https'] },
  });
}
startTelemetry({ preloaded });
