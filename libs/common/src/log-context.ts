import { AsyncLocalStorage } from 'node:async_hooks';
import { isSpanContextValid, trace } from '@opentelemetry/api';

/** Per-request fields every log line written while handling that request carries. */
export interface LogContext {
  requestId: string;
}

export const logContext = new AsyncLocalStorage<LogContext>();

/**
 * The pino mixin: `trace_id`/`span_id` of the active span (when tracing is on) and the
 * `request_id` of the API request being handled, so logs, traces and requests correlate.
 */
export function logCorrelationFields(): Record<string, string> {
  const fields: Record<string, string> = {};
  const span = trace.getActiveSpan()?.spanContext();
  if (span && isSpanContextValid(span)) {
    fields.trace_id = span.traceId;
    fields.span_id = span.spanId;
  }
  const ctx = logContext.getStore();
  if (ctx) fields.request_id = ctx.requestId;
  return fields;
}
