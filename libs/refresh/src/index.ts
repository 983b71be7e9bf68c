export * from './credential-secrets.js';
export * from './credential-service.js';
export * from './errors.js';
export * from './queues.js';
export * from './refresh-scheduler.js';
export * from './refresh-service.js';
export * from './schedule-sweeper.js';
export * from './token-service.js';
