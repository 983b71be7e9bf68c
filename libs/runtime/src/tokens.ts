/** Injection tokens for values that are not classes. */
export const CONFIG = Symbol('tokenkeeper.config');
export const REDIS = Symbol('tokenkeeper.redis');
export const LOGGER = Symbol('tokenkeeper.logger');
