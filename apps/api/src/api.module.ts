import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import type { AppConfig } from '#common';
import { RuntimeModule, WebhooksModule } from '#runtime';
import { EncryptionController } from './admin/encryption.controller.js';
import { ApiAuthGuard } from './auth/api-auth.guard.js';
import { ApiKeyAuthenticator } from './auth/api-key-authenticator.js';
import { API_KEY_SECRETS, type ApiKeySecrets } from './auth/api-key-secrets.js';
import { ApiKeysController } from './auth/api-keys.controller.js';
import { RateLimitGuard } from './auth/rate-limit.guard.js';
import { CredentialsController } from './credentials/credentials.controller.js';
import { EventStreamService } from './events/event-stream.service.js';
import { EventsController } from './events/events.controller.js';
import { HealthController } from './health/health.controller.js';
import { ProblemDetailsFilter } from './http/problem-details.filter.js';
import { MetricsController } from './metrics/metrics.controller.js';
import { MetricsService } from './metrics/metrics.service.js';
import { PoolsController } from './pools/pools.controller.js';
import { SubscriptionsController } from './subscriptions/subscriptions.controller.js';

@Module({})
export class ApiModule {
  static forRoot(config: AppConfig, apiKeySecrets: ApiKeySecrets): DynamicModule {
    return {
      module: ApiModule,
      imports: [
        RuntimeModule.forApi(config),
        WebhooksModule.forApi(config),
        TerminusModule.forRoot({ logger: false }),
      ],
      controllers: [
        CredentialsController,
        PoolsController,
        HealthController,
        ApiKeysController,
        EncryptionController,
        EventsController,
        SubscriptionsController,
        MetricsController,
      ],
      providers: [
        { provide: API_KEY_SECRETS, useValue: apiKeySecrets },
        ApiKeyAuthenticator,
        EventStreamService,
        MetricsService,
        // Guards run in this order: authenticate, then rate-limit per key.
        { provide: APP_GUARD, useClass: ApiAuthGuard },
        { provide: APP_GUARD, useClass: RateLimitGuard },
        { provide: APP_FILTER, useClass: ProblemDetailsFilter },
      ],
    };
  }
}
