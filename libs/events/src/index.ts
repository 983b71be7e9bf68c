export * from './event-feed-reader.js';
export * from './event-filter.js';
export * from './event-view.js';
export * from './feed-cursor.js';
export * from './read-streams.js';
