export * from './config.js';
export * from './file-source-policy.js';
export * from './key-ring.js';
export * from './log-context.js';
export * from './logger.js';
export * from './outbound-fetch.js';
export * from './outbound-policy.js';
export * from './worker-id.js';
