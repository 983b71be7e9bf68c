import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';

/** Attributes that may carry a URL's query string (a signature, an API key, a code). */
const URL_ATTRIBUTES = ['url.full', 'http.url', 'http.target', 'url.original'];
const DROPPED_ATTRIBUTES = new Set(['url.query']);

/** Cuts the query and fragment from a URL (or a path); user info is dropped too. */
export function withoutQuery(value: string): string {
  const cut = value.split(/[?#]/, 1)[0] ?? '';
  return cut.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
}

/**
 * Wraps the exporting processor so that no exported span carries a URL query: the HTTP
 * instrumentation records `url.full` and `url.query` of the token endpoint, webhooks and Vault,
 * where a query may hold a credential. Headers and bodies are never recorded (no
 * `headersToSpanAttributes`), so the Authorization header cannot leak either.
 */
export class SanitizingSpanProcessor implements SpanProcessor {
  constructor(private readonly inner: SpanProcessor) {}

  onStart(span: Span, parentContext: Context): void {
    this.inner.onStart(span, parentContext);
  }

  onEnd(span: ReadableSpan): void {
    const attributes: Record<string, unknown> = {};
    let changed = false;
    for (const [key, value] of Object.entries(span.attributes)) {
      if (DROPPED_ATTRIBUTES.has(key)) {
        changed = true;
        continue;
      }
      if (URL_ATTRIBUTES.includes(key) && typeof value === 'string' && /[?#@]/.test(value)) {
        attributes[key] = withoutQuery(value);
        changed = true;
        continue;
      }
      attributes[key] = value;
    }
    if (!changed) {
      this.inner.onEnd(span);
      return;
    }
    // The span itself is frozen once ended: hand the exporter a view with the cleaned attributes.
    this.inner.onEnd(Object.create(span, { attributes: { value: attributes, enumerable: true } }));
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}
