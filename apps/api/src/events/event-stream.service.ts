import { type BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { Redis } from 'ioredis';
import type { AppConfig } from '#common';
import { EventFeedReader, type EventFilter, encodeFeedCursor, eventView, type FeedPosition } from '#events';
import { CONFIG, REDIS } from '#runtime';
import { ProblemException } from '../http/problem.js';

/** How long a browser's EventSource waits before reconnecting after the stream drops. */
const RECONNECT_MS = 2_000;

/**
 * Serves server-sent event streams of the feed. Each stream blocks on an XREAD of its own Redis
 * connection (duplicated, closed when the client goes away); the number of open streams per
 * process is bounded so that connections and file descriptors cannot run out, and so is the
 * number per namespace, so that one namespace's streams cannot lock the others out.
 */
@Injectable()
export class EventStreamService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(EventStreamService.name);
  private readonly open = new Map<AbortController, Promise<void>>();
  /** Open streams by namespace (entries removed at zero). */
  private readonly byNamespace = new Map<string, number>();

  constructor(
    private readonly reader: EventFeedReader,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(CONFIG) private readonly config: AppConfig,
  ) {}

  get openStreams(): number {
    return this.open.size;
  }

  /**
   * Takes over the reply and streams events after `position` until the client disconnects or
   * the api shuts down. Throws (before anything is written) when the process is at its limit.
   */
  serve(reply: FastifyReply, position: FeedPosition, filter: EventFilter): void {
    const { maxStreams, maxStreamsPerNamespace, heartbeatMs } = this.config.eventStream;
    if (this.open.size >= maxStreams) {
      void reply.header('retry-after', '5');
      throw new ProblemException('TOO_MANY_STREAMS', {
        detail: `this api process serves at most ${maxStreams} concurrent streams (TK_EVENT_STREAM_MAX_STREAMS); retry later or poll GET /v1/events`,
        retryAfter: 5,
      });
    }
    const { namespace } = filter;
    const ofNamespace = this.byNamespace.get(namespace) ?? 0;
    if (ofNamespace >= maxStreamsPerNamespace) {
      void reply.header('retry-after', '5');
      throw new ProblemException('TOO_MANY_STREAMS_FOR_NAMESPACE', {
        detail: `at most ${maxStreamsPerNamespace} concurrent streams per namespace and api process (TK_EVENT_STREAM_MAX_STREAMS_PER_NAMESPACE); close one, retry later or poll GET /v1/events`,
        retryAfter: 5,
      });
    }
    const abort = new AbortController();
    const connection = this.redis.duplicate({ connectionName: 'api:event-stream' });
    abort.signal.addEventListener('abort', () => connection.disconnect(), { once: true });
    reply.hijack();
    const raw = reply.raw;
    raw.on('close', () => abort.abort());
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Proxies such as nginx would otherwise buffer the stream.
      'x-accel-buffering': 'no',
    });
    this.byNamespace.set(namespace, ofNamespace + 1);
    const run = this.pump(raw, position, filter, connection, abort.signal, heartbeatMs)
      .catch((err: unknown) => {
        if (!abort.signal.aborted) this.logger.error({ msg: 'event stream failed', err });
      })
      .finally(() => {
        abort.abort();
        this.open.delete(abort);
        const left = (this.byNamespace.get(namespace) ?? 1) - 1;
        if (left > 0) this.byNamespace.set(namespace, left);
        else this.byNamespace.delete(namespace);
        raw.end();
      });
    this.open.set(abort, run);
  }

  private async pump(
    raw: FastifyReply['raw'],
    position: FeedPosition,
    filter: EventFilter,
    connection: Redis,
    signal: AbortSignal,
    heartbeatMs: number,
  ): Promise<void> {
    const write = async (chunk: string) => {
      if (signal.aborted) return;
      if (!raw.write(chunk)) {
        // A slow client: wait for its buffer to drain rather than buffering the feed in memory.
        await new Promise<void>((resolve) => {
          const done = () => {
            raw.off('drain', done);
            signal.removeEventListener('abort', done);
            resolve();
          };
          raw.once('drain', done);
          signal.addEventListener('abort', done, { once: true });
        });
      }
      lastWrite = Date.now();
    };
    let lastWrite = Date.now();
    const start = encodeFeedCursor(position);
    await write(
      `retry: ${RECONNECT_MS}\nid: ${start}\nevent: ready\ndata: ${JSON.stringify({ cursor: start })}\n\n`,
    );
    for await (const item of this.reader.follow(position, filter, {
      connection,
      blockMs: heartbeatMs,
      signal,
    })) {
      if (signal.aborted) return;
      if (item.kind === 'event') {
        const view = eventView(item.entry.event);
        await write(`id: ${item.cursor}\nevent: ${view.type}\ndata: ${JSON.stringify(view)}\n\n`);
      } else if (Date.now() - lastWrite >= heartbeatMs - 50) {
        await write(': heartbeat\n\n');
      }
    }
  }

  /** Ends every stream so the server can close; clients reconnect elsewhere with Last-Event-ID. */
  async beforeApplicationShutdown(): Promise<void> {
    const runs = [...this.open.entries()];
    for (const [abort] of runs) abort.abort();
    await Promise.allSettled(runs.map(([, run]) => run));
  }
}
