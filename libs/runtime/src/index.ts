export * from './graceful-shutdown.js';
export * from './key-ring-check.js';
export * from './redis-connection.js';
export * from './runtime.module.js';
export * from './tokens.js';
export * from './webhooks.module.js';
