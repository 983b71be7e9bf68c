export * from './ciphertext-source.js';
export * from './credential-store.js';
export * from './keys.js';
export * from './lease.js';
export * from './lua-scripts.js';
export * from './pool-store.js';
export * from './redis-client.js';
