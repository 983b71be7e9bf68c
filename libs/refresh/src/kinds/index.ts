export * as kindFields from './fields.js';
export * from './grant-input.js';
export * from './kind-descriptor.js';
export * from './kind-set.js';
export * from './registry.js';
export { EVERY_KIND_FIELDS } from './update-fields.js';
