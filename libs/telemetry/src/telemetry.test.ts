import { Writable } from 'node:stream';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, logContext } from '#common';
import { SanitizingSpanProcessor, withoutQuery } from './sanitizing-span-processor.js';
import { otlpMetricsFromEnv, serviceNameOf, traceExportersFromEnv } from './telemetry.js';
import { contextFromTraceparent, currentTraceparent } from './trace-context.js';

describe('telemetry configuration from OTEL_* variables', () => {
  it('traces nothing unless an exporter or an OTLP endpoint is configured', () => {
    expect(traceExportersFromEnv({})).toEqual([]);
    expect(traceExportersFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toEqual(['otlp']);
    expect(traceExportersFromEnv({ OTEL_TRACES_EXPORTER: 'console' })).toEqual(['console']);
    expect(traceExportersFromEnv({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'x' })).toEqual(
      [],
    );
    expect(traceExportersFromEnv({ TK_OTEL_TEST_EXPORTER: 'file:/tmp/s.jsonl' })).toEqual(['file']);
    expect(traceExportersFromEnv({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' })).toEqual([]);
  });

  it('exports metrics over OTLP only when asked; Prometheus is always served', () => {
    expect(otlpMetricsFromEnv({})).toBe(false);
    expect(otlpMetricsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toBe(true);
    expect(
      otlpMetricsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_METRICS_EXPORTER: 'none' }),
    ).toBe(false);
  });

  it('names the service after the app', () => {
    expect(serviceNameOf('/app/dist/apps/worker/src/main.js', {})).toBe('tokenkeeper-worker');
    expect(serviceNameOf('/app/dist/apps/api/src/main.js', { OTEL_SERVICE_NAME: 'edge-api' })).toBe(
      'edge-api',
    );
    expect(serviceNameOf(undefined, {})).toBe('tokenkeeper');
  });
});

describe('spans and logs', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    spanProcessors: [new SanitizingSpanProcessor(new SimpleSpanProcessor({ exporter }))],
  });
  const tracer = provider.getTracer('test');
  const contextManager = new AsyncLocalStorageContextManager();

  beforeAll(() => {
    context.setGlobalContextManager(contextManager.enable());
  });
  afterAll(() => {
    contextManager.disable();
    context.disable();
  });

  it('strips queries and user info from URL attributes and drops url.query', () => {
    expect(withoutQuery('https://u:p@idp.example/token?code=abc#x')).toBe('https://idp.example/token');
    const span = tracer.startSpan('POST', {
      attributes: {
        'url.full': 'https://idp.example/token?client_secret=s3cret',
        'url.query': 'client_secret=s3cret',
        'url.path': '/token',
        'http.response.status_code': 200,
      },
    });
    span.end();
    const [exported] = exporter.getFinishedSpans();
    expect(exported!.attributes).toEqual({
      'url.full': 'https://idp.example/token',
      'url.path': '/token',
      'http.response.status_code': 200,
    });
    expect(exported!.spanContext().traceId).toBe(span.spanContext().traceId);
  });

  it('carries a traceparent through a feed entry, and puts trace and request ids in log lines', () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const logger = createLogger('test', 'info', sink);
    expect(currentTraceparent()).toBeUndefined();
    const span = tracer.startSpan('tokenkeeper.event.append');
    const traceparent = context.with(trace.setSpan(context.active(), span), () => {
      logContext.run({ requestId: 'req-7' }, () => logger.info({ token: 'secret-value' }, 'inside'));
      return currentTraceparent();
    });
    span.end();
    logger.info('outside');
    const { traceId, spanId } = span.spanContext();
    expect(traceparent).toBe(`00-${traceId}-${spanId}-01`);
    expect(trace.getSpanContext(contextFromTraceparent(traceparent))).toMatchObject({ traceId, spanId });
    expect(lines[0]).toMatchObject({
      msg: 'inside',
      trace_id: traceId,
      span_id: spanId,
      request_id: 'req-7',
    });
    expect(lines[0]!.token).toBe('[redacted]');
    expect(lines[1]).not.toHaveProperty('trace_id');
    expect(lines[1]).not.toHaveProperty('request_id');
  });
});
