import { appendFileSync } from 'node:fs';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';

/** One finished span as a JSON line: what the tests read back from another process. */
export interface SpanRecord {
  service: string;
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  startTimeMs: number;
  endTimeMs: number;
  status: number;
  attributes: Record<string, unknown>;
  links: { traceId: string; spanId: string }[];
}

type ExportResult = Parameters<Parameters<SpanExporter['export']>[1]>[0];
/** `ExportResultCode` of @opentelemetry/core (not a direct dependency). */
const SUCCESS = 0;
const FAILED = 1;

const toMs = ([s, ns]: [number, number]) => s * 1000 + ns / 1e6;

/**
 * Appends finished spans to a file as JSON lines (synchronously, so nothing is lost when a test
 * stops the process). For tests only: `TK_OTEL_TEST_EXPORTER=file:<path>`.
 */
export class FileSpanExporter implements SpanExporter {
  constructor(
    private readonly path: string,
    private readonly service: string,
  ) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    try {
      const lines = spans.map((s) => {
        const record: SpanRecord = {
          service: this.service,
          name: s.name,
          kind: s.kind,
          traceId: s.spanContext().traceId,
          spanId: s.spanContext().spanId,
          ...(s.parentSpanContext ? { parentSpanId: s.parentSpanContext.spanId } : {}),
          startTimeMs: toMs(s.startTime),
          endTimeMs: toMs(s.endTime),
          status: s.status.code,
          attributes: { ...s.attributes },
          links: s.links.map((l) => ({ traceId: l.context.traceId, spanId: l.context.spanId })),
        };
        return `${JSON.stringify(record)}\n`;
      });
      appendFileSync(this.path, lines.join(''));
      done({ code: SUCCESS });
    } catch (error) {
      done({ code: FAILED, error: error as Error });
    }
  }

  async shutdown(): Promise<void> {}
}
