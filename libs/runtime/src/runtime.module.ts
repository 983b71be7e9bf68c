import { BullModule, getQueueToken } from '@nestjs/bullmq';
import {
  type DynamicModule,
  Global,
  Inject,
  Injectable,
  type InjectionToken,
  Module,
  type OnApplicationShutdown,
  type Provider,
} from '@nestjs/common';
import type { Queue } from 'bullmq';
import { BullMQOtel } from 'bullmq-otel';
import {
  type AppConfig,
  createLogger,
  createOutboundFetch,
  FileSourcePolicy,
  KeyRing,
  OutboundPolicy,
} from '#common';
import type { GrantClient } from '#grants';
import { QueueName, queuePrefix, type RefreshJobData } from '#queues';
import {
  CredentialCipher,
  CredentialService,
  GrantClientRegistry,
  PoolService,
  RedisReadRefreshGate,
  ReEncryption,
  RefreshScheduler,
  RefreshService,
  ScheduleSweeper,
  StoredCredentialTokenReader,
  TokenService,
} from '#refresh';
import { CredentialStore, KeySpace, LeaderLock, LeaseManager, PoolStore, type RedisClient } from '#store';
import { traceEventAppend } from '#telemetry';
import { createRedis } from './redis-connection.js';
import { CONFIG, OUTBOUND_FETCH, REDIS } from './tokens.js';

export const GRANT_CLIENT = Symbol('tokenkeeper.grantClient');

/**
 * Closes the shared Redis connection at shutdown, but only once the work registered with
 * `closeAfter` is done: in the worker, the refreshes under way persisting what they got (closing
 * it under a refresh would lose a rotated refresh token; Nest does not order shutdown hooks
 * across modules, so this waits explicitly).
 */
@Injectable()
class RedisCloser implements OnApplicationShutdown {
  private readonly drains: (() => Promise<unknown>)[] = [];
  constructor(@Inject(REDIS) private readonly redis: RedisClient) {}
  closeAfter(drain: () => Promise<unknown>): void {
    this.drains.push(drain);
  }
  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.drains.map((drain) => drain()));
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** Longest a shutdown waits for refreshes under way: a grant timeout plus a persist, with margin. */
const SHUTDOWN_DRAIN_MS = 30_000;

const refreshQueueToken = getQueueToken(QueueName.TokenRefresh);

/**
 * Wires the Nest-free libraries (store, secrets, grants, refresh use cases) for one app: each
 * builds only what it runs. Both get the store, the key ring, the scheduler and re-encryption;
 * the api adds the credential, token and pool use cases, the worker the refresh use case, its
 * leases and grant clients, and the sweep. The apps add their controllers or processors on top.
 */
@Global()
@Module({})
export class RuntimeModule {
  static forApi(config: AppConfig): DynamicModule {
    return RuntimeModule.forProcess(config, 'api', apiProviders(config));
  }

  static forWorker(config: AppConfig): DynamicModule {
    return RuntimeModule.forProcess(config, 'worker', workerProviders(config));
  }

  private static forProcess(config: AppConfig, processName: string, own: Provider[]): DynamicModule {
    const providers = [...sharedProviders(config, processName), ...own];
    return {
      module: RuntimeModule,
      imports: [
        BullModule.forRootAsync({
          // A factory, so that the connection opens when the app starts rather than on import.
          useFactory: () => ({
            connection: createRedis(config.redisUrl, `${processName}:queues`),
            prefix: queuePrefix(config.redisPrefix),
            // Producer and consumer spans (every queue registered after this one inherits it): a
            // job added while a span is active carries its trace to the worker that runs it.
            telemetry: new BullMQOtel({ tracerName: 'tokenkeeper.bullmq' }),
          }),
        }),
        BullModule.registerQueue({ name: QueueName.TokenRefresh }),
      ],
      providers,
      exports: [...providers.map(tokenOf), BullModule],
    };
  }
}

/** What both apps use. */
function sharedProviders(config: AppConfig, processName: string): Provider[] {
  return [
    { provide: CONFIG, useValue: config },
    { provide: REDIS, useFactory: () => createRedis(config.redisUrl, processName) },
    RedisCloser,
    { provide: KeySpace, useValue: new KeySpace(config.redisPrefix, config.partitions) },
    {
      provide: CredentialStore,
      inject: [REDIS, KeySpace],
      useFactory: (redis: RedisClient, keys: KeySpace) =>
        new CredentialStore(
          redis,
          keys,
          {
            historyMaxLen: config.historyMaxLen,
            feedMaxLen: config.feedMaxLen,
            feedRetentionMs: config.feedRetentionMs,
            waitReplicas: config.redisWait.replicas,
            waitTimeoutMs: config.redisWait.timeoutMs,
          },
          traceEventAppend,
        ),
    },
    { provide: KeyRing, useFactory: () => KeyRing.fromConfig(config.encryption, config) },
    {
      provide: CredentialCipher,
      inject: [KeyRing],
      useFactory: (ring: KeyRing) => new CredentialCipher(ring),
    },
    { provide: OutboundPolicy, useValue: new OutboundPolicy(config.security.outbound) },
    { provide: FileSourcePolicy, useValue: new FileSourcePolicy(config.fileSources.dirs) },
    {
      provide: OUTBOUND_FETCH,
      inject: [OutboundPolicy],
      useFactory: (policy: OutboundPolicy) => createOutboundFetch(policy, config.security.outbound),
    },
    {
      provide: ReEncryption,
      inject: [REDIS, CredentialStore, KeyRing],
      useFactory: (r: RedisClient, s: CredentialStore, ring: KeyRing) =>
        new ReEncryption(s, ring, new LeaderLock(r, s.keys)),
    },
    {
      provide: RefreshScheduler,
      inject: [refreshQueueToken],
      useFactory: (queue: Queue<RefreshJobData>) => new RefreshScheduler(queue),
    },
  ];
}

/** The api's use cases: credentials, tokens (a read may demand a refresh and wait for it), pools. */
function apiProviders(config: AppConfig): Provider[] {
  return [
    {
      provide: TokenService,
      inject: [CredentialStore, CredentialCipher, RefreshScheduler, REDIS],
      useFactory: (s: CredentialStore, c: CredentialCipher, sch: RefreshScheduler, r: RedisClient) =>
        new TokenService(s, c, sch, {
          waitMs: config.tokenWaitMs,
          fallbackMinTtlMs: config.tokenFallbackMinTtlMs,
          readRefreshGate: new RedisReadRefreshGate(r, s.keys, config.tokenReads.readRefreshIntervalMs),
          minTtlMaxFraction: config.tokenReads.minTtlMaxFraction,
        }),
    },
    {
      provide: CredentialService,
      inject: [CredentialStore, CredentialCipher, RefreshScheduler, OUTBOUND_FETCH, FileSourcePolicy],
      useFactory: (
        s: CredentialStore,
        c: CredentialCipher,
        sch: RefreshScheduler,
        f: typeof fetch,
        files: FileSourcePolicy,
      ) =>
        new CredentialService(s, c, sch, {
          policy: config.refreshPolicy,
          grantTimeoutMs: config.grantTimeoutMs,
          fetch: f,
          fileSources: files,
        }),
    },
    {
      provide: PoolStore,
      inject: [REDIS, KeySpace],
      useFactory: (r: RedisClient, k: KeySpace) => new PoolStore(r, k),
    },
    {
      provide: PoolService,
      inject: [PoolStore, CredentialStore, TokenService],
      useFactory: (p: PoolStore, s: CredentialStore, t: TokenService) => new PoolService(p, s, t),
    },
  ];
}

/** The worker's: the refresh use case with its leases and grant clients, and the sweep. */
function workerProviders(config: AppConfig): Provider[] {
  return [
    {
      provide: LeaseManager,
      inject: [REDIS, KeySpace],
      useFactory: (r: RedisClient, k: KeySpace) => new LeaseManager(r, k),
    },
    {
      provide: GRANT_CLIENT,
      inject: [OUTBOUND_FETCH, CredentialStore, CredentialCipher, FileSourcePolicy],
      useFactory: (
        outbound: typeof fetch,
        s: CredentialStore,
        c: CredentialCipher,
        files: FileSourcePolicy,
      ) =>
        GrantClientRegistry.standard({
          fetch: outbound,
          tokens: new StoredCredentialTokenReader(s, c),
          fileSources: files,
        }),
    },
    {
      provide: RefreshService,
      inject: [CredentialStore, LeaseManager, CredentialCipher, GRANT_CLIENT, RefreshScheduler, RedisCloser],
      useFactory: (
        s: CredentialStore,
        l: LeaseManager,
        c: CredentialCipher,
        g: GrantClient,
        sch: RefreshScheduler,
        closer: RedisCloser,
      ) => {
        const refreshLogger = createLogger('refresh', config.logLevel);
        const refresh = new RefreshService(s, l, c, g, sch, {
          policy: config.refreshPolicy,
          backoff: config.backoff,
          grantTimeoutMs: config.grantTimeoutMs,
          grantDeadlineMs: config.grantDeadlineMs,
          leaseTtlMs: config.leaseTtlMs,
          onAlert: (msg, fields) => refreshLogger.warn(fields, msg),
        });
        closer.closeAfter(() => refresh.drain(SHUTDOWN_DRAIN_MS));
        return refresh;
      },
    },
    {
      provide: ScheduleSweeper,
      inject: [REDIS, CredentialStore, RefreshScheduler],
      useFactory: (r: RedisClient, s: CredentialStore, sch: RefreshScheduler) =>
        new ScheduleSweeper(s, sch, new LeaderLock(r, s.keys), { overdueMs: 30_000 }),
    },
  ];
}

function tokenOf(p: Provider): InjectionToken {
  return typeof p === 'function' ? p : p.provide;
}
