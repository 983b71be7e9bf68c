import { describeNetworkError, readEventStream, type TokenkeeperApiClient } from './api-client.js';
import { TokenkeeperClientError } from './errors.js';
import { SseParser } from './sse-parser.js';
import { abortableSleep } from './timing.js';

/** An event of the credential's history, as the stream delivers it. Never contains a token. */
export interface TokenkeeperEvent {
  /** Resume cursor of this event in the feed (`Last-Event-ID`). */
  id: string;
  /** `token.updated`, `refresh.failed`, `credential.reauth_required`, ... */
  type: string;
  credentialId: string;
  /** Position in the credential's own history (1, 2, ...). */
  revision?: number;
  /** ISO time the event happened. */
  at?: string;
  namespace?: string;
  /** Type-specific details, e.g. `{tokenVersion, expiresAt, refreshAt}` for `token.updated`. */
  data: Record<string, unknown>;
}

export interface SubscribeOptions {
  /** Only these event types reach the handler (default: all). */
  types?: readonly string[];
  /** Connection and handler failures; the subscription keeps reconnecting after each. */
  onError?: (error: TokenkeeperClientError) => void;
  /** Resume after this cursor instead of starting with new events. */
  lastEventId?: string;
  /** Reconnection backoff: doubles from `initialDelayMs` (default 1000) up to `maxDelayMs` (default 30000). */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /** A connection that sends nothing (not even a heartbeat) for this long is replaced (default 60000). */
  idleTimeoutMs?: number;
}

export interface SubscriptionDeps {
  api: TokenkeeperApiClient;
  credentialId: string;
  /** Sees every event before the type filter (the provider drops its cache on `token.updated`). */
  observe: (event: TokenkeeperEvent) => void;
  /** Where errors go when the caller gave no `onError`. */
  warn: (error: TokenkeeperClientError) => void;
}

/**
 * One server-sent-events connection to `/v1/events/stream` for a credential, kept open until
 * `stop()`: reconnects with exponential backoff and resumes with `Last-Event-ID`, so no event is
 * missed across a reconnect (the feed delivers at least once).
 */
export class EventSubscription {
  private readonly stopped = new AbortController();
  private connection: AbortController | undefined;
  private lastEventId: string;
  private serverRetryMs: number | undefined;
  private readonly done: Promise<void>;

  constructor(
    private readonly deps: SubscriptionDeps,
    private readonly handler: (event: TokenkeeperEvent) => void | Promise<void>,
    private readonly options: SubscribeOptions = {},
  ) {
    this.lastEventId = options.lastEventId ?? '';
    this.done = this.run();
  }

  /** Closes the connection for good; resolves once the loop has ended. */
  stop(): Promise<void> {
    this.stopped.abort();
    this.connection?.abort();
    return this.done;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped.signal.aborted) {
      let received = false;
      try {
        received = await this.connect();
      } catch (err) {
        if (this.stopped.signal.aborted) break;
        this.report(err);
      }
      if (this.stopped.signal.aborted) break;
      // A connection that delivered something resets the backoff; one that failed at once grows it.
      failures = received ? 0 : failures + 1;
      await abortableSleep(this.delay(failures), this.stopped.signal);
    }
  }

  /** One connection, read to its end. Resolves to whether it delivered anything. */
  private async connect(): Promise<boolean> {
    const { api, credentialId } = this.deps;
    const connection = new AbortController();
    this.connection = connection;
    const idleMs = this.options.idleTimeoutMs ?? 60_000;
    let idle = setTimeout(() => connection.abort(), idleMs);
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => connection.abort(), idleMs);
    };
    let received = false;
    try {
      const res = await api.openEventStream({
        query: { credentialId },
        lastEventId: this.lastEventId,
        signal: connection.signal,
      });
      const parser = new SseParser(
        {
          onMessage: (m) => {
            this.lastEventId = m.lastEventId;
            this.deliver(m.event, m.data, m.lastEventId);
          },
          onRetry: (ms) => {
            this.serverRetryMs = ms;
          },
        },
        this.lastEventId,
      );
      received = await readEventStream(res, parser, () => {
        received = true;
        touch();
      });
      return received;
    } catch (err) {
      if (this.stopped.signal.aborted) return received;
      if (err instanceof TokenkeeperClientError) throw err;
      const why = connection.signal.aborted ? `nothing received for ${idleMs} ms` : describeNetworkError(err);
      throw new TokenkeeperClientError(
        'STREAM_DISCONNECTED',
        `the event stream for credential ${credentialId} broke: ${why}`,
        {
          cause: err,
        },
      );
    } finally {
      clearTimeout(idle);
      connection.abort();
    }
  }

  private deliver(type: string, data: string, id: string): void {
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(data);
      if (parsed === null || typeof parsed !== 'object') throw new Error('not an object');
      body = parsed as Record<string, unknown>;
    } catch {
      this.report(
        new TokenkeeperClientError(
          'BAD_EVENT',
          `event ${id || '(no id)'} on the stream is not a JSON object`,
        ),
      );
      return;
    }
    const event: TokenkeeperEvent = {
      id,
      type: typeof body.type === 'string' ? body.type : type,
      credentialId: typeof body.credentialId === 'string' ? body.credentialId : this.deps.credentialId,
      ...(typeof body.revision === 'number' ? { revision: body.revision } : {}),
      ...(typeof body.at === 'string' ? { at: body.at } : {}),
      ...(typeof body.namespace === 'string' ? { namespace: body.namespace } : {}),
      data: body.data !== null && typeof body.data === 'object' ? (body.data as Record<string, unknown>) : {},
    };
    this.deps.observe(event);
    if (this.options.types && !this.options.types.includes(event.type)) return;
    try {
      const result = this.handler(event);
      if (result && typeof result.then === 'function')
        result.then(undefined, (err) => this.handlerFailed(event, err));
    } catch (err) {
      this.handlerFailed(event, err);
    }
  }

  private handlerFailed(event: TokenkeeperEvent, err: unknown): void {
    this.report(
      new TokenkeeperClientError(
        'HANDLER_FAILED',
        `the subscriber's handler threw on event ${event.id} (${event.type})`,
        {
          cause: err,
        },
      ),
    );
  }

  private report(err: unknown): void {
    const error =
      err instanceof TokenkeeperClientError
        ? err
        : new TokenkeeperClientError('STREAM_DISCONNECTED', 'the event stream failed', { cause: err });
    try {
      (this.options.onError ?? this.deps.warn)(error);
    } catch {
      // A throwing error callback must not end the subscription.
    }
  }

  /** Exponential backoff with jitter; the first reconnect after a good connection waits the base delay. */
  private delay(failures: number): number {
    const initial = this.serverRetryMs ?? this.options.reconnect?.initialDelayMs ?? 1000;
    const max = Math.max(initial, this.options.reconnect?.maxDelayMs ?? 30_000);
    const d = Math.min(max, initial * 2 ** Math.min(failures, 20));
    return d / 2 + Math.random() * (d / 2);
  }
}
