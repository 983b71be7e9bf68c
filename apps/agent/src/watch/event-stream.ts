import type { Logger } from 'pino';
import { isValidHeaderValue } from '../http/header-value.js';
import type { SecretRedactor } from '../http/secret-redactor.js';
import { fullJitterDelay } from './backoff.js';
import type { TokenkeeperApi } from './tokenkeeper-api.js';

export interface StreamEvent {
  id?: string;
  type: string;
  credentialId?: string;
}

/** Incremental parser for a `text/event-stream` body: feed chunks, get complete events. */
export class SseParser {
  private buffer = '';
  private id: string | undefined;
  private event = 'message';
  private data: string[] = [];

  feed(chunk: string): Array<{ id?: string; event: string; data: string }> {
    this.buffer += chunk;
    const out: Array<{ id?: string; event: string; data: string }> = [];
    let nl = this.buffer.search(/\r\n|\r|\n/);
    while (nl >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + (this.buffer.startsWith('\r\n', nl) ? 2 : 1));
      if (line === '') {
        if (this.data.length)
          out.push({
            ...(this.id !== undefined ? { id: this.id } : {}),
            event: this.event,
            data: this.data.join('\n'),
          });
        this.event = 'message';
        this.data = [];
      } else if (!line.startsWith(':')) {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') this.data.push(value);
        else if (field === 'event') this.event = value;
        else if (field === 'id') this.id = value;
      }
      nl = this.buffer.search(/\r\n|\r|\n/);
    }
    return out;
  }
}

/**
 * Follows `GET /v1/events/stream` as a faster trigger than polling. It is only a hint: the
 * watchers poll anyway, so a missing, failing or lagging stream costs latency, never correctness.
 * A server without the endpoint (404/405) is retried rarely.
 */
export class EventStream {
  private lastEventId: string | undefined;

  constructor(
    private readonly api: TokenkeeperApi,
    /** Credentials to hear about (the server filters; unknown ids are ignored on our side too). */
    private readonly credentialIds: readonly string[],
    private readonly logger: Logger,
    private readonly redactor: SecretRedactor,
    private readonly onEvent: (event: StreamEvent) => void,
    /** Called on every (re)connection: events missed while disconnected are caught up by a poll. */
    private readonly onConnected: () => void,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      let delay: number;
      try {
        await this.follow(signal);
        failures = 0;
        delay = 1000;
      } catch (err) {
        if (signal.aborted) return;
        failures += 1;
        const status = (err as { status?: number }).status;
        delay =
          status === 404 || status === 405 ? 60_000 : Math.max(500, fullJitterDelay(failures, 1000, 30_000));
        this.logger[failures === 1 ? 'info' : 'debug'](
          { error: this.redactor.describe(err), retryInMs: delay },
          'event stream unavailable, polling only',
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, delay);
        function done() {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        }
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  private async follow(signal: AbortSignal): Promise<void> {
    const query = new URLSearchParams({ type: 'token.updated' });
    for (const id of this.credentialIds) query.append('credentialId', id);
    const res = await fetch(this.api.url(`v1/events/stream?${query}`), {
      headers: this.api.headers({
        accept: 'text/event-stream',
        ...(this.lastEventId ? { 'last-event-id': this.lastEventId } : {}),
      }),
      signal,
    });
    if (!res.ok || !res.body || !(res.headers.get('content-type') ?? '').includes('text/event-stream')) {
      await res.body?.cancel().catch(() => {});
      throw Object.assign(new Error(`event stream answered ${res.status}`), { status: res.status });
    }
    this.logger.info('event stream connected');
    this.onConnected();
    const parser = new SseParser();
    const decoder = new TextDecoder();
    for await (const chunk of res.body) {
      for (const message of parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }))) {
        // Sent back as `last-event-id`: an id that cannot be a header value is not kept.
        if (message.id && isValidHeaderValue(message.id)) this.lastEventId = message.id;
        let credentialId: string | undefined;
        try {
          const data = JSON.parse(message.data) as { credentialId?: unknown };
          if (typeof data.credentialId === 'string') credentialId = data.credentialId;
        } catch {
          // A data line that is not JSON is no trigger; polling covers it.
        }
        this.onEvent({
          type: message.event,
          ...(message.id ? { id: message.id } : {}),
          ...(credentialId ? { credentialId } : {}),
        });
      }
    }
    throw new Error('event stream closed');
  }
}
