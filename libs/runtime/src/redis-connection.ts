import { Redis } from 'ioredis';

/**
 * A Redis connection as BullMQ needs it: commands wait for a reconnect instead of failing after
 * a few retries, so a Redis restart delays work rather than losing it.
 */
export function createRedis(url: string, name: string): Redis {
  return new Redis(url, {
    connectionName: name,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
}
