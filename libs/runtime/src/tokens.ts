/** Injection tokens for values that are not classes. */
export const CONFIG = Symbol('tokenkeeper.config');
export const REDIS = Symbol('tokenkeeper.redis');
/** The `fetch` every outbound call (token endpoints, webhooks, registrars) goes through; the outbound URL policy plugs in here. */
export const OUTBOUND_FETCH = Symbol('tokenkeeper.outboundFetch');
