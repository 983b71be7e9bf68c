export * as kindFields from './fields.js';
export * from './grant-input.js';
export * from './kind-descriptor.js';
export { DEFAULT_ASSERTION_TTL_SECONDS } from './oauth2-jwt-bearer.js';
export { ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE } from './oauth2-token-exchange.js';
export * from './registry.js';
export { EVERY_KIND_FIELDS } from './update-fields.js';
