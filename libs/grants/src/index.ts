export * from './grant-client.js';
export * from './oauth-grant-client.js';
