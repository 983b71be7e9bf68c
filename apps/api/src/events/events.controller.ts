import { Controller, Get, Headers, Query, Res } from '@nestjs/common';
import { ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { EventFeedReader, type EventFilter, eventView } from '#events';
import { CurrentPrincipal, type Principal, RequireScope } from '../auth/principal.js';
import { ZodValidationPipe } from '../http/zod-validation.pipe.js';
import { EventStreamService } from './event-stream.service.js';
import {
  type EventFeedQuery,
  type EventStreamQuery,
  eventFeedQuerySchema,
  eventStreamQuerySchema,
} from './events.schemas.js';

function filterOf(principal: Principal, q: EventStreamQuery): EventFilter {
  return {
    namespace: principal.namespace,
    ...(q.type.length ? { types: new Set(q.type) } : {}),
    ...(q.credentialId.length ? { credentialIds: new Set(q.credentialId) } : {}),
  };
}

/** The global event feed of the caller's namespace: polling pages and a server-sent event stream. */
@ApiTags('events')
@Controller('v1/events')
export class EventsController {
  constructor(
    private readonly reader: EventFeedReader,
    private readonly streams: EventStreamService,
  ) {}

  @Get()
  @RequireScope('events:read')
  @ApiOperation({
    summary:
      'Events after a cursor (from the oldest retained event without one), in order per credential; resume with nextCursor',
  })
  @ApiQuery({
    name: 'after',
    required: false,
    description: 'a cursor from nextCursor, an item, or an SSE id',
  })
  @ApiQuery({ name: 'limit', required: false })
  @ApiQuery({
    name: 'type',
    required: false,
    isArray: true,
    description: 'event types (repeat or comma-separate)',
  })
  @ApiQuery({ name: 'credentialId', required: false, isArray: true })
  async list(
    @CurrentPrincipal() principal: Principal,
    @Query(new ZodValidationPipe(eventFeedQuerySchema, 'query')) q: EventFeedQuery,
  ) {
    const page = await this.reader.page(q.after, filterOf(principal, q), q.limit);
    return {
      items: page.items.map(({ entry, cursor }) => ({ cursor, ...eventView(entry.event) })),
      nextCursor: page.nextCursor,
    };
  }

  @Get('stream')
  @RequireScope('events:read')
  @ApiOperation({
    summary:
      'Server-sent events: `id` is the cursor after the event, `event` its type, `data` its JSON. Resumes after Last-Event-ID (or ?after=), else starts now. Heartbeat comments keep it alive.',
  })
  @ApiQuery({ name: 'after', required: false })
  @ApiQuery({ name: 'type', required: false, isArray: true })
  @ApiQuery({ name: 'credentialId', required: false, isArray: true })
  async stream(
    @CurrentPrincipal() principal: Principal,
    @Query(new ZodValidationPipe(eventStreamQuerySchema, 'query')) q: EventStreamQuery,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    // A reconnecting EventSource repeats the original URL: its Last-Event-ID is the newer position.
    const resumeFrom = lastEventId?.trim() || q.after;
    const position = resumeFrom ? this.reader.positionOf(resumeFrom) : await this.reader.tail();
    this.streams.serve(reply, position, filterOf(principal, q));
  }
}
