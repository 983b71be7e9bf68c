import { Controller, Get, Header } from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from '#telemetry';
import { OPERATOR_NAMESPACE } from '../auth/api-keys.js';
import { CurrentPrincipal, type Principal, RequireScope } from '../auth/principal.js';
import { MetricsService } from './metrics.service.js';

/**
 * Prometheus scrape endpoint, behind the API key guard (scope `metrics:read`, or admin). Keys of
 * the operator namespace (`default`) get this process's whole exposition: fleet-wide gauges,
 * queues, HTTP and runtime metrics. Keys of any other namespace get their own namespace's
 * credential gauges only: counts of other tenants are not theirs to see.
 */
@ApiTags('metrics')
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @RequireScope('metrics:read')
  @ApiOperation({
    summary:
      'Prometheus metrics: fleet-wide for keys of the operator namespace, the own namespace’s credential gauges for others',
  })
  @ApiProduces(PROMETHEUS_CONTENT_TYPE)
  @Header('content-type', PROMETHEUS_CONTENT_TYPE)
  @Header('cache-control', 'no-store')
  scrape(@CurrentPrincipal() principal: Principal): Promise<string> {
    if (principal.namespace === OPERATOR_NAMESPACE) return renderPrometheus();
    return this.metrics.renderNamespace(principal.namespace);
  }
}
