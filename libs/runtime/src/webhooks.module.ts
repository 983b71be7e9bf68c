import { hostname } from 'node:os';
import { BullModule, getQueueToken } from '@nestjs/bullmq';
import { type DynamicModule, Injectable, Module, type OnModuleInit } from '@nestjs/common';
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
 * Subscribers' side of the event feed: the feed reader (polling and server-sent events),
 * webhook subscriptions, the delivery queue, the dispatcher and the deliverer. Both apps import
 * it; the api uses the reader and the subscription service, the worker the dispatcher and the
 * deliverer. Needs RuntimeModule (global) for Redis, keys, the key ring and the outbound fetch.
 */
@Module({})
export class WebhooksModule {
  static forRoot(config: AppConfig): DynamicModule {
    const queueToken = getQueueToken(QueueName.WebhookDelivery);
    const providers = [
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
        inject: [KeySpace, EventFeedReader, SubscriptionStore, DeliveryLog, DeliveryQueue, CredentialStore],
        useFactory: (
          k: KeySpace,
          reader: EventFeedReader,
          s: SubscriptionStore,
          l: DeliveryLog,
          q: DeliveryQueue,
          c: CredentialStore,
        ) =>
          new FeedDispatcher(k, reader, s, l, q, c, {
            consumer: `${hostname()}-${process.pid}`,
            batch: 200,
            blockMs: 2_000,
            claimIdleMs: 30_000,
          }),
      },
    ];
    return {
      module: WebhooksModule,
      imports: [BullModule.registerQueue({ name: QueueName.WebhookDelivery })],
      providers: [...providers, SigningSecretsUnderKeyRing],
      exports: [...providers.map((p) => p.provide), BullModule],
    };
  }
}
