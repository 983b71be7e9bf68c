export * from './job-data.js';
export * from './queues.js';
