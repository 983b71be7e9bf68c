export * from './credential-store.js';
export * from './keys.js';
export * from './lease.js';
export * from './lua-scripts.js';
