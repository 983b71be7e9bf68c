export * from './config.js';
export * from './key-ring.js';
export * from './logger.js';
