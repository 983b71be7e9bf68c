import { type Context, ROOT_CONTEXT, trace } from '@opentelemetry/api';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The W3C `traceparent` of the active span (ids and flags only), for carrying a trace across a
 * hop OpenTelemetry does not see: a feed entry read later by another process. Undefined when
 * tracing is off or no span is recording.
 */
export function currentTraceparent(): string | undefined {
  const span = trace.getActiveSpan();
  if (!span?.isRecording()) return undefined;
  const { traceId, spanId, traceFlags } = span.spanContext();
  return `00-${traceId}-${spanId}-${traceFlags.toString(16).padStart(2, '0')}`;
}

/** A context whose parent is the span a `traceparent` names (the root context if it is malformed). */
export function contextFromTraceparent(traceparent: string | undefined): Context {
  const m = TRACEPARENT.exec(traceparent ?? '');
  if (!m) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: m[1]!,
    spanId: m[2]!,
    traceFlags: Number.parseInt(m[3]!, 16),
    isRemote: true,
  });
}
