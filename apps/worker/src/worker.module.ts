import { type DynamicModule, Module } from '@nestjs/common';
import type { AppConfig } from '#common';
import { RuntimeModule, WebhooksModule } from '#runtime';
import { FeedDispatcherService } from './feed-dispatcher.service.js';
import { WorkerHealthService } from './health/worker-health.service.js';
import { ReEncryptionService } from './re-encryption.service.js';
import { ScheduleSweepService } from './schedule-sweep.service.js';
import { TokenRefreshProcessor } from './token-refresh.processor.js';
import { WebhookDeliveryProcessor } from './webhook-delivery.processor.js';

@Module({})
export class WorkerModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [RuntimeModule.forWorker(config), WebhooksModule.forWorker(config)],
      providers: [
        TokenRefreshProcessor,
        ScheduleSweepService,
        ReEncryptionService,
        WebhookDeliveryProcessor,
        FeedDispatcherService,
        WorkerHealthService,
      ],
    };
  }
}
