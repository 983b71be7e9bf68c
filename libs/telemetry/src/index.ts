export * from './file-span-exporter.js';
export * from './refresh-telemetry.js';
export * from './sanitizing-span-processor.js';
export * from './telemetry.js';
export * from './trace-context.js';
