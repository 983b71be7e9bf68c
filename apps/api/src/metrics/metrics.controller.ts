import { Controller, Get, Header } from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from '#telemetry';
import { RequireScope } from '../auth/principal.js';

/**
 * Prometheus scrape endpoint: this process's metrics in the text format. Behind the API key
 * guard (scope `metrics:read`, or admin): counts by kind and state are not for everyone.
 */
@ApiTags('metrics')
@Controller('metrics')
export class MetricsController {
  @Get()
  @RequireScope('metrics:read')
  @ApiOperation({ summary: 'Prometheus metrics of this api process (gauges of the whole fleet)' })
  @ApiProduces(PROMETHEUS_CONTENT_TYPE)
  @Header('content-type', PROMETHEUS_CONTENT_TYPE)
  @Header('cache-control', 'no-store')
  scrape(): Promise<string> {
    return renderPrometheus();
  }
}
