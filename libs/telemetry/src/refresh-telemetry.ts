import {
  type Attributes,
  type Counter,
  type Histogram,
  metrics,
  type Span,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { currentTraceparent } from './trace-context.js';

/** Spans and metrics of tokenkeeper's own work (the HTTP instrumentation covers the calls). */
export const tracer = trace.getTracer('tokenkeeper');

/** Bucket boundaries in seconds, from a loopback token endpoint (ms) to a provider timing out (30 s+). */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Lateness: delayed jobs start 0–100 ms late on a healthy Redis; minutes mean saturated workers. */
const LATENESS_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

interface Instruments {
  refreshes: Counter;
  duration: Histogram;
  lateness: Histogram;
  contention: Counter;
  deliveries: Counter;
}
let instruments: Instruments | undefined;

/** Created on first use: the global meter provider is set by startTelemetry, before any job runs. */
function meterInstruments(): Instruments {
  if (instruments) return instruments;
  const meter = metrics.getMeter('tokenkeeper');
  const counter = (name: string, description: string, unit: string) =>
    meter.createCounter(name, { description, unit });
  const seconds = (name: string, description: string, buckets: number[]) =>
    meter.createHistogram(name, { description, unit: 's', advice: { explicitBucketBoundaries: buckets } });
  instruments = {
    refreshes: counter(
      'tokenkeeper.refreshes',
      'Refresh attempts that reached the provider (or a static check), by kind and outcome',
      '{refresh}',
    ),
    duration: seconds(
      'tokenkeeper.refresh.duration',
      'Time to run one refresh job, lease to persisted event',
      DURATION_BUCKETS,
    ),
    lateness: seconds(
      'tokenkeeper.refresh.lateness',
      'How late a refresh started against the time it was due',
      LATENESS_BUCKETS,
    ),
    contention: counter(
      'tokenkeeper.lease.contention',
      'Refresh jobs that found another refresh of the same credential holding its lease',
      '{job}',
    ),
    deliveries: counter(
      'tokenkeeper.webhook.deliveries',
      'Webhook delivery attempts by outcome',
      '{delivery}',
    ),
  };
  return instruments;
}

/** What traceRefresh needs of a refresh job (structural, so this library needs no #refresh). */
export interface RefreshJobLike {
  credentialId: string;
  tokenVersion: number;
  dueAt: number;
  trigger: string;
}

interface ProjectionLike {
  kind: string;
  token?: { tokenVersion: number };
}

export type RefreshOutcomeLike =
  | { type: 'refreshed'; projection: ProjectionLike }
  | { type: 'failed'; failure: { class: string; code: string }; projection: ProjectionLike }
  | { type: 'stale'; reason: string }
  | { type: 'busy'; retryInMs: number };

/** `success`, `transient` or `permanent` for refreshes that ran; `stale`/`busy` for jobs that did not. */
export function refreshOutcomeLabel(o: RefreshOutcomeLike): string {
  if (o.type === 'refreshed') return 'success';
  if (o.type === 'failed') return o.failure.class;
  return o.type;
}

/**
 * Runs one refresh job inside a `tokenkeeper.refresh` span (a child of the BullMQ consumer span,
 * so of the API request or the job that scheduled it) and records its metrics. Attributes carry
 * ids, kind, version and outcome — never a secret; metric labels carry no ids.
 */
export async function traceRefresh<T extends RefreshOutcomeLike>(
  job: RefreshJobLike,
  run: () => Promise<T>,
  now: () => number = Date.now,
): Promise<T> {
  return withSpan(
    'tokenkeeper.refresh',
    {
      'tokenkeeper.credential.id': job.credentialId,
      'tokenkeeper.token.version': job.tokenVersion,
      'tokenkeeper.refresh.trigger': job.trigger,
    },
    async (span) => {
      const started = now();
      const outcome = await run();
      recordRefresh(span, job, outcome, started, now());
      return outcome;
    },
  );
}

function recordRefresh(
  span: Span,
  job: RefreshJobLike,
  outcome: RefreshOutcomeLike,
  started: number,
  ended: number,
): void {
  const m = meterInstruments();
  const label = refreshOutcomeLabel(outcome);
  span.setAttribute('tokenkeeper.refresh.outcome', label);
  if (outcome.type === 'busy') {
    m.contention.add(1);
    return;
  }
  if (outcome.type === 'stale') return;
  const kind = outcome.projection.kind;
  span.setAttribute('tokenkeeper.credential.kind', kind);
  if (outcome.type === 'refreshed' && outcome.projection.token)
    span.setAttribute('tokenkeeper.token.version', outcome.projection.token.tokenVersion);
  if (outcome.type === 'failed') {
    span.setAttributes({
      'tokenkeeper.failure.class': outcome.failure.class,
      'tokenkeeper.failure.code': outcome.failure.code,
    });
    span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.failure.code });
  }
  const attrs: Attributes = { kind, outcome: label };
  m.refreshes.add(1, attrs);
  m.duration.record((ended - started) / 1000, attrs);
  m.lateness.record(Math.max(0, started - job.dueAt) / 1000, { kind });
}

/** What a delivery attempt came to, as the processor reports it. */
export type DeliveryOutcomeLabel = 'delivered' | 'retrying' | 'dead' | 'dropped';

/**
 * Runs one webhook delivery attempt inside a `tokenkeeper.webhook.delivery` span. The delivery
 * job carries the trace of the event it delivers (the feed entry's `traceparent`), so this span
 * and the POST to the receiver join the refresh's trace. Counts `tokenkeeper.webhook.deliveries`.
 */
export async function traceDelivery<T>(
  ids: { subscriptionId: string; deliveryId: string; attempt: number },
  run: () => Promise<T>,
  labelOf: (result: T) => DeliveryOutcomeLabel,
): Promise<T> {
  return withSpan(
    'tokenkeeper.webhook.delivery',
    {
      'tokenkeeper.subscription.id': ids.subscriptionId,
      'tokenkeeper.delivery.id': ids.deliveryId,
      'tokenkeeper.delivery.attempt': ids.attempt,
    },
    async (span) => {
      const result = await run();
      const outcome = labelOf(result);
      span.setAttribute('tokenkeeper.delivery.outcome', outcome);
      if (outcome === 'retrying' || outcome === 'dead') span.setStatus({ code: SpanStatusCode.ERROR });
      meterInstruments().deliveries.add(1, { outcome });
      return result;
    },
  );
}

/**
 * Runs `fn` in a child span of the active one (the refresh, a delivery, the event append and other
 * steps); an error marks the span failed by the error's code or name, and the span always ends.
 */
export async function withSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      failSpan(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/**
 * The store's append hook: one `tokenkeeper.event.append` span per append, whose `traceparent`
 * is stored with the events so that their webhook deliveries join the trace.
 */
export function traceEventAppend<T>(
  info: { credentialId: string; eventTypes: string[]; revision: number },
  append: (traceparent: string | undefined) => Promise<T>,
): Promise<T> {
  return withSpan(
    'tokenkeeper.event.append',
    {
      'tokenkeeper.credential.id': info.credentialId,
      'tokenkeeper.event.types': info.eventTypes,
      'tokenkeeper.event.revision': info.revision,
    },
    () => append(currentTraceparent()),
  );
}

/** Marks a span failed with the error's name only: messages can quote what they were given. */
function failSpan(span: Span, err: unknown): void {
  const name = err instanceof Error ? err.name : 'Error';
  const code = (err as { code?: unknown })?.code;
  span.setStatus({ code: SpanStatusCode.ERROR, message: typeof code === 'string' ? code : name });
  span.setAttribute('error.type', typeof code === 'string' ? code : name);
}
