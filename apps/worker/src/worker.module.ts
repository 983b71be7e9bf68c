import { type DynamicModule, Module } from '@nestjs/common';
import type { AppConfig } from '#common';
import { RuntimeModule } from '#runtime';
import { ScheduleSweepService } from './schedule-sweep.service.js';
import { TokenRefreshProcessor } from './token-refresh.processor.js';

@Module({})
export class WorkerModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [RuntimeModule.forRoot(config, 'worker')],
      providers: [TokenRefreshProcessor, ScheduleSweepService],
    };
  }
}
