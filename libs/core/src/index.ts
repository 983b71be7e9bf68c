export * from './backoff.js';
export * from './credential.js';
export * from './credential-fold.js';
export * from './error-classification.js';
export * from './errors.js';
export * from './events.js';
export * from './refresh-policy.js';
export * from './static-token.js';
