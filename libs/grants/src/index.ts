export * from './grant-client.js';
export * from './jwt-mint-grant-client.js';
export * from './jwt-template.js';
export * from './limited-fetch.js';
export * from './oauth-grant-client.js';
export * from './signing-key.js';
export * from './token-source.js';
export * from './vault-grant-client.js';
