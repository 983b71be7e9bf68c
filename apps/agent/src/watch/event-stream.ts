import type { Logger } from 'pino';
import {
  abortableSleep,
  fullJitterDelay,
  readEventStream,
  SseParser,
  type TokenkeeperApiClient,
} from '#client';
import { isValidHeaderValue } from '../http/header-value.js';
import type { SecretRedactor } from '../http/secret-redactor.js';

export interface StreamEvent {
  id?: string;
  type: string;
  credentialId?: string;
}

/**
 * Follows `GET /v1/events/stream` as a faster trigger than polling. It is only a hint: the
 * watchers poll anyway, so a missing, failing or lagging stream costs latency, never correctness.
 * A server without the endpoint (404/405) is retried rarely.
 */
export class EventStream {
  private lastEventId: string | undefined;

  constructor(
    private readonly api: TokenkeeperApiClient,
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
      await abortableSleep(delay, signal);
    }
  }

  private async follow(signal: AbortSignal): Promise<void> {
    const res = await this.api.openEventStream({
      query: { type: 'token.updated', credentialId: this.credentialIds },
      ...(this.lastEventId ? { lastEventId: this.lastEventId } : {}),
      signal,
    });
    this.logger.info('event stream connected');
    this.onConnected();
    const parser = new SseParser(
      {
        onMessage: (message) => {
          const id = message.lastEventId;
          // Sent back as `last-event-id`: an id that cannot be a header value is not kept.
          if (id && isValidHeaderValue(id)) this.lastEventId = id;
          let credentialId: string | undefined;
          try {
            const data = JSON.parse(message.data) as { credentialId?: unknown };
            if (typeof data.credentialId === 'string') credentialId = data.credentialId;
          } catch {
            // A data line that is not JSON is no trigger; polling covers it.
          }
          this.onEvent({
            type: message.event,
            ...(id ? { id } : {}),
            ...(credentialId ? { credentialId } : {}),
          });
        },
      },
      this.lastEventId,
    );
    await readEventStream(res, parser);
    throw new Error('event stream closed');
  }
}
