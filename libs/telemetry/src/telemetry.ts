import { metrics } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { type IMetricReader, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { FileSpanExporter } from './file-span-exporter.js';
import { SanitizingSpanProcessor } from './sanitizing-span-processor.js';

type Env = Record<string, string | undefined>;

export interface TelemetryStatus {
  service: string;
  /** Span exporters in use (`otlp`, `console`, `file`); empty when tracing is off. */
  traces: string[];
  /** `prometheus` always (pull, served by the app), `otlp` when configured. */
  metrics: string[];
  /** Whether a `--import` preload ran (needed for spans of outgoing HTTP calls). */
  preloaded: boolean;
}

interface Started {
  status: TelemetryStatus;
  prometheus: PrometheusExporter;
  shutdown: () => Promise<void>;
}

const STATE = Symbol.for('tokenkeeper.telemetry');
type Holder = { [STATE]?: Started };

const list = (v: string | undefined) =>
  (v ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);

/**
 * Which span exporters the standard variables ask for. Tracing is off unless asked for:
 * `OTEL_TRACES_EXPORTER` (`otlp`, `console`, `none`) or `OTEL_EXPORTER_OTLP[_TRACES]_ENDPOINT`
 * (implies `otlp`). `TK_OTEL_TEST_EXPORTER=file:<path>` adds a JSON-lines file (tests).
 */
export function traceExportersFromEnv(env: Env): string[] {
  const named = list(env.OTEL_TRACES_EXPORTER);
  const out = new Set<string>();
  if (named.length > 0) {
    for (const n of named) if (n === 'otlp' || n === 'console') out.add(n);
  } else if (env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) {
    out.add('otlp');
  }
  if (env.TK_OTEL_TEST_EXPORTER?.startsWith('file:')) out.add('file');
  if (env.OTEL_SDK_DISABLED === 'true') out.clear();
  return [...out];
}

/** Metrics go over OTLP too when `OTEL_METRICS_EXPORTER` names `otlp`, or an OTLP endpoint is set and it names nothing. */
export function otlpMetricsFromEnv(env: Env): boolean {
  const named = list(env.OTEL_METRICS_EXPORTER);
  if (env.OTEL_SDK_DISABLED === 'true') return false;
  if (named.length > 0) return named.includes('otlp');
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT);
}

/** `tokenkeeper-api` for `.../apps/api/src/main.js`, else `OTEL_SERVICE_NAME` or `tokenkeeper`. */
export function serviceNameOf(argv1: string | undefined, env: Env): string {
  if (env.OTEL_SERVICE_NAME) return env.OTEL_SERVICE_NAME;
  const app = /apps[/\\](api|worker|agent)[/\\]/.exec(argv1 ?? '')?.[1];
  return app ? `tokenkeeper-${app}` : 'tokenkeeper';
}

/**
 * Starts OpenTelemetry once per process: the Node SDK with the HTTP instrumentation (incoming
 * API requests, outgoing calls to token endpoints, webhooks and Vault) and the span exporters the
 * environment asks for, and a meter provider that always has a Prometheus reader (served by the
 * app at `/metrics`, or on `OTEL_EXPORTER_PROMETHEUS_PORT` by itself) plus OTLP when configured.
 * Later calls return the first start's status.
 */
export function startTelemetry(
  options: { service?: string; env?: Env; preloaded?: boolean } = {},
): TelemetryStatus {
  const holder = globalThis as Holder;
  const existing = holder[STATE];
  if (existing) {
    if (options.preloaded) existing.status.preloaded = true;
    return existing.status;
  }
  const env = options.env ?? process.env;
  const service = options.service ?? serviceNameOf(process.argv[1], env);
  const resource = defaultResource().merge(
    resourceFromAttributes({
      [ATTR_SERVICE_NAME]: service,
      [ATTR_SERVICE_VERSION]: process.env.npm_package_version ?? '0.1.0',
    }),
  );

  const prometheusPort = Number(env.OTEL_EXPORTER_PROMETHEUS_PORT ?? 0);
  const prometheus = new PrometheusExporter({
    preventServerStart: !(prometheusPort > 0),
    ...(prometheusPort > 0
      ? { port: prometheusPort, host: env.OTEL_EXPORTER_PROMETHEUS_HOST ?? '0.0.0.0' }
      : {}),
  });
  const readers: IMetricReader[] = [prometheus];
  const metricExporters = ['prometheus'];
  if (otlpMetricsFromEnv(env)) {
    readers.push(new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter() }));
    metricExporters.push('otlp');
  }
  const meterProvider = new MeterProvider({ resource, readers });
  metrics.setGlobalMeterProvider(meterProvider);

  const traceExporters = traceExportersFromEnv(env);
  const processors: SpanProcessor[] = traceExporters.map((name) => {
    if (name === 'otlp') return new BatchSpanProcessor({ exporter: new OTLPTraceExporter() });
    if (name === 'console') return new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() });
    const path = env.TK_OTEL_TEST_EXPORTER!.slice('file:'.length);
    return new SimpleSpanProcessor({ exporter: new FileSpanExporter(path, service) });
  });
  let sdk: NodeSDK | undefined;
  if (processors.length > 0) {
    sdk = new NodeSDK({
      resource,
      autoDetectResources: false,
      serviceName: service,
      spanProcessors: processors.map((p) => new SanitizingSpanProcessor(p)),
      // Metrics are ours (above): an empty list keeps the SDK from adding its default OTLP reader.
      metricReaders: [],
      instrumentations: [
        new HttpInstrumentation({
          // Probes and scrapes are noise in traces.
          ignoreIncomingRequestHook: (req) => /^\/(health|metrics)(\/|\?|$)/.test(req.url ?? ''),
        }),
      ],
    });
    sdk.start();
  }

  const started: Started = {
    status: {
      service,
      traces: traceExporters,
      metrics: metricExporters,
      preloaded: Boolean(options.preloaded),
    },
    prometheus,
    shutdown: async () => {
      await Promise.allSettled([sdk?.shutdown(), meterProvider.shutdown()]);
    },
  };
  holder[STATE] = started;
  return started.status;
}

/** Flushes and stops exporters (spans still buffered for OTLP are sent). */
export async function shutdownTelemetry(): Promise<void> {
  const holder = globalThis as Holder;
  const started = holder[STATE];
  holder[STATE] = undefined;
  await started?.shutdown();
}

export function telemetryStatus(): TelemetryStatus | undefined {
  return (globalThis as Holder)[STATE]?.status;
}

const serializer = new PrometheusSerializer();

/** This process's metrics in the Prometheus text format (0.0.4); empty if telemetry never started. */
export async function renderPrometheus(): Promise<string> {
  const started = (globalThis as Holder)[STATE];
  if (!started) return '';
  const { resourceMetrics, errors } = await started.prometheus.collect();
  if (errors.length > 0) throw new AggregateError(errors, 'metrics collection failed');
  return serializer.serialize(resourceMetrics);
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
