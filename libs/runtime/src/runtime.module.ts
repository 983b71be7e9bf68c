import { BullModule, getQueueToken } from '@nestjs/bullmq';
import {
  type DynamicModule,
  Global,
  Inject,
  Injectable,
  Module,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { type AppConfig, KeyRing } from '#common';
import { type GrantClient, OAuthGrantClient } from '#grants';
import {
  CredentialCipher,
  CredentialService,
  QueueName,
  queuePrefix,
  type RefreshJobData,
  RefreshScheduler,
  RefreshService,
  ScheduleSweeper,
  TokenService,
} from '#refresh';
import { CredentialStore, KeySpace, LeaseManager } from '#store';
import { createRedis } from './redis-connection.js';
import { CONFIG, OUTBOUND_FETCH, REDIS } from './tokens.js';

export const GRANT_CLIENT = Symbol('tokenkeeper.grantClient');

/** Closes the shared Redis connection last, after Nest has closed queues and workers. */
@Injectable()
class RedisCloser implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}
  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/**
 * Wires the Nest-free libraries (store, secrets, grants, refresh use cases) for the api and the
 * worker. Both get the same objects; the apps add their controllers or processors on top.
 */
@Global()
@Module({})
export class RuntimeModule {
  static forRoot(config: AppConfig, processName: string): DynamicModule {
    const queueToken = getQueueToken(QueueName.TokenRefresh);
    return {
      module: RuntimeModule,
      imports: [
        BullModule.forRoot({
          connection: createRedis(config.redisUrl, `${processName}:queues`),
          prefix: queuePrefix(config.redisPrefix),
        }),
        BullModule.registerQueue({ name: QueueName.TokenRefresh }),
      ],
      providers: [
        { provide: CONFIG, useValue: config },
        { provide: REDIS, useFactory: () => createRedis(config.redisUrl, processName) },
        RedisCloser,
        { provide: KeySpace, useValue: new KeySpace(config.redisPrefix, config.partitions) },
        {
          provide: CredentialStore,
          inject: [REDIS, KeySpace],
          useFactory: (redis: Redis, keys: KeySpace) =>
            new CredentialStore(redis, keys, {
              historyMaxLen: config.historyMaxLen,
              feedMaxLen: config.feedMaxLen,
            }),
        },
        {
          provide: LeaseManager,
          inject: [REDIS, KeySpace],
          useFactory: (r: Redis, k: KeySpace) => new LeaseManager(r, k),
        },
        { provide: KeyRing, useFactory: () => KeyRing.fromConfig(config.encryption, config) },
        {
          provide: CredentialCipher,
          inject: [KeyRing],
          useFactory: (ring: KeyRing) => new CredentialCipher(ring),
        },
        { provide: OUTBOUND_FETCH, useValue: fetch },
        {
          provide: GRANT_CLIENT,
          inject: [OUTBOUND_FETCH],
          useFactory: (outbound: typeof fetch) => new OAuthGrantClient({ fetch: outbound }),
        },
        {
          provide: RefreshScheduler,
          inject: [queueToken],
          useFactory: (queue: Queue<RefreshJobData>) => new RefreshScheduler(queue),
        },
        {
          provide: RefreshService,
          inject: [CredentialStore, LeaseManager, CredentialCipher, GRANT_CLIENT, RefreshScheduler],
          useFactory: (
            s: CredentialStore,
            l: LeaseManager,
            c: CredentialCipher,
            g: GrantClient,
            sch: RefreshScheduler,
          ) =>
            new RefreshService(s, l, c, g, sch, {
              policy: config.refreshPolicy,
              backoff: config.backoff,
              grantTimeoutMs: config.grantTimeoutMs,
              leaseTtlMs: config.leaseTtlMs,
            }),
        },
        {
          provide: CredentialService,
          inject: [CredentialStore, CredentialCipher, RefreshScheduler],
          useFactory: (s: CredentialStore, c: CredentialCipher, sch: RefreshScheduler) =>
            new CredentialService(s, c, sch, {
              policy: config.refreshPolicy,
              grantTimeoutMs: config.grantTimeoutMs,
            }),
        },
        {
          provide: TokenService,
          inject: [CredentialStore, CredentialCipher, RefreshScheduler],
          useFactory: (s: CredentialStore, c: CredentialCipher, sch: RefreshScheduler) =>
            new TokenService(s, c, sch, { waitMs: config.tokenWaitMs }),
        },
        {
          provide: ScheduleSweeper,
          inject: [CredentialStore, queueToken, RefreshScheduler],
          useFactory: (s: CredentialStore, q: Queue<RefreshJobData>, sch: RefreshScheduler) =>
            new ScheduleSweeper(s, q, sch, { overdueMs: 30_000 }),
        },
      ],
      exports: [
        CONFIG,
        REDIS,
        KeySpace,
        CredentialStore,
        LeaseManager,
        KeyRing,
        CredentialCipher,
        GRANT_CLIENT,
        OUTBOUND_FETCH,
        RefreshScheduler,
        RefreshService,
        CredentialService,
        TokenService,
        ScheduleSweeper,
        BullModule,
      ],
    };
  }
}
