import type { Cluster, Redis } from 'ioredis';

/**
 * A connection to one Redis or to a Redis Cluster. Everything the store sends is single-slot
 * (keys of a credential share the `{p<k>}` tag, global keys share `{g}`), so the same code runs
 * on both; pipelines must not mix partitions, since a cluster serves them from different nodes.
 */
export type RedisClient = Redis | Cluster;
