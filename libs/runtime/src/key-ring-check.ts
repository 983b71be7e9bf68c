import type { Redis } from 'ioredis';
import { type AppConfig, KeyRing } from '#common';
import { ReEncryption } from '#refresh';
import { CredentialStore, KeySpace } from '#store';
import { SubscriptionStore } from '#webhooks';
import { createRedis } from './redis-connection.js';

/**
 * Refuses to start (ConfigError naming the key id) when ciphertexts in Redis — credentials' and
 * webhook signing secrets — still need a key the ring no longer has. Runs before the Nest app is
 * created: once it exists, BullMQ workers start taking jobs, and a worker that cannot decrypt
 * would turn every job it takes into a failure.
 */
export async function assertKeyRingCoversStoredCiphertexts(config: AppConfig): Promise<void> {
  const ring = KeyRing.fromConfig(config.encryption, config);
  const redis = createRedis(config.redisUrl, 'key-ring-check');
  try {
    const keys = new KeySpace(config.redisPrefix, config.partitions);
    const store = new CredentialStore(redis, keys, {
      historyMaxLen: config.historyMaxLen,
      feedMaxLen: config.feedMaxLen,
      feedRetentionMs: config.feedRetentionMs,
    });
    const check = new ReEncryption(store, ring);
    // SubscriptionStore is typed for a single Redis; its commands stay in one slot on a cluster too.
    check.addSource(new SubscriptionStore(redis as Redis, keys));
    await check.assertKeysAvailable();
  } finally {
    redis.disconnect();
  }
}
