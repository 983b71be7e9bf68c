import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import type { AppConfig } from '#common';
import { RuntimeModule } from '#runtime';
import { ApiAuthGuard } from './auth/api-auth.guard.js';
import { CredentialsController } from './credentials/credentials.controller.js';
import { HealthController } from './health/health.controller.js';
import { ProblemDetailsFilter } from './http/problem-details.filter.js';

@Module({})
export class ApiModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: ApiModule,
      imports: [RuntimeModule.forRoot(config, 'api'), TerminusModule.forRoot({ logger: false })],
      controllers: [CredentialsController, HealthController],
      providers: [
        { provide: APP_GUARD, useClass: ApiAuthGuard },
        { provide: APP_FILTER, useClass: ProblemDetailsFilter },
      ],
    };
  }
}
