import { hostname } from 'node:os';
import { BullModule, getQueueToken } from '@nestjs/bullmq';
import {
  type DynamicModule,
  type FactoryProvider,
  Injectable,
  Logger,
  Module,
  type OnModuleInit,
} from '@nestjs/common';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { type AppConfig, KeyRing, OutboundPolicy } from '#common';
import { EventFeedReader } from '#events';
import { QueueName, type WebhookDeliveryJobData } from '#queues';
import { ReEncryption } from '#refresh';
import { CredentialStore, KeySpace } from '#store';
import {
  DeliveryLog,
  DeliveryQueue,
  FeedDispatcher,
  RedisFeedSource,
  SubscriptionService,
  SubscriptionStore,
  WebhookDeliverer,
} from '#webhooks';
import { OUTBOUND_FETCH, REDIS } from './tokens.js';

/** Webhook signing secrets are encrypted with the key ring too: the boot check and re-encryption cover them. */
@Injectable()
class SigningSecretsUnderKeyRing implements OnModuleInit {
  constructor(
    private readonly reEncryption: ReEncryption,
    private readonly subscriptions: SubscriptionStore,
  ) {}
  onModuleInit(): void {
    this.reEncryption.addSource(this.subscriptions);
  }
}

/**
 * Subscribers' side of the event feed. Both apps get the feed reader, the subscriptions, the
 * delivery log and the delivery queue; the api adds the subscription service (and serves the
 * reader as polling and server-sent events), the worker the dispatcher and the deliverer. Needs
 * RuntimeModule (global) for Redis, keys, the key ring and the outbound fetch.
 */
@Module({})
export class WebhooksModule {
  static forApi(config: AppConfig): DynamicModule {
    return WebhooksModule.forProcess(config, subscriptionProviders(config));
  }

  static forWorker(config: AppConfig): DynamicModule {
    return WebhooksModule.forProcess(config, deliveryProviders(config));
  }

  private static forProcess(config: AppConfig, own: FactoryProvider[]): DynamicModule {
    const providers = [...sharedProviders(config), ...own];
    return {
      module: WebhooksModule,
      imports: [BullModule.registerQueue({ name: QueueName.WebhookDelivery })],
      providers: [...providers, SigningSecretsUnderKeyRing],
      exports: [...providers.map((p) => p.provide), BullModule],
    };
  }
}

/** What both apps use. */
function sharedProviders(config: AppConfig): FactoryProvider[] {
  const queueToken = getQueueToken(QueueName.WebhookDelivery);
  return [
    {
      provide: EventFeedReader,
      inject: [REDIS, KeySpace],
      useFactory: (r: Redis, k: KeySpace) => new EventFeedReader(r, k),
    },
    {
      provide: SubscriptionStore,
      inject: [REDIS, KeySpace],
      useFactory: (r: Redis, k: KeySpace) => new SubscriptionStore(r, k),
    },
    {
      provide: DeliveryLog,
      inject: [REDIS, KeySpace],
      useFactory: (r: Redis, k: KeySpace) => new DeliveryLog(r, k),
    },
    {
      provide: DeliveryQueue,
      inject: [queueToken],
      useFactory: (q: Queue<WebhookDeliveryJobData>) =>
        new DeliveryQueue(q, { attempts: config.webhooks.attempts, backoffMs: config.webhooks.backoffMs }),
    },
  ];
}

/** The api's: subscriptions managed through the API, re-drives. */
function subscriptionProviders(config: AppConfig): FactoryProvider[] {
  return [
    {
      provide: SubscriptionService,
      inject: [SubscriptionStore, DeliveryLog, DeliveryQueue, KeyRing, OutboundPolicy],
      useFactory: (
        s: SubscriptionStore,
        l: DeliveryLog,
        q: DeliveryQueue,
        ring: KeyRing,
        policy: OutboundPolicy,
      ) =>
        new SubscriptionService(
          s,
          l,
          q,
          ring,
          async (url) => {
            await policy.checkUrl(url);
          },
          Date.now,
          config.maxSubscriptionsPerNamespace,
        ),
    },
  ];
}

/** The worker's: feed entries to delivery jobs, and the deliveries. */
function deliveryProviders(config: AppConfig): FactoryProvider[] {
  return [
    {
      provide: WebhookDeliverer,
      inject: [REDIS, KeySpace, SubscriptionStore, DeliveryLog, KeyRing, OUTBOUND_FETCH],
      useFactory: (
        r: Redis,
        k: KeySpace,
        s: SubscriptionStore,
        l: DeliveryLog,
        ring: KeyRing,
        outbound: typeof fetch,
      ) =>
        new WebhookDeliverer(r, k, s, l, ring, {
          timeoutMs: config.webhooks.timeoutMs,
          maxResponseBytes: config.webhooks.maxResponseBytes,
          fetch: outbound,
        }),
    },
    {
      provide: FeedDispatcher,
      inject: [REDIS, KeySpace, SubscriptionStore, DeliveryLog, DeliveryQueue, CredentialStore],
      useFactory: (
        r: Redis,
        k: KeySpace,
        s: SubscriptionStore,
        l: DeliveryLog,
        q: DeliveryQueue,
        c: CredentialStore,
      ) => {
        const source = new RedisFeedSource(r, k, {
          consumer: `${hostname()}-${process.pid}`,
          batch: 200,
          blockMs: 2_000,
          claimIdleMs: 30_000,
        });
        const logger = new Logger(FeedDispatcher.name);
        return new FeedDispatcher(source, s, l, q, c, {
          onUnreadable: (refs) =>
            logger.warn({ msg: 'acknowledged feed entries that hold no event', entries: refs.slice(0, 10) }),
        });
      },
    },
  ];
}
