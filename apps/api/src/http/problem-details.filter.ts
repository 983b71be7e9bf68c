import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SecretDecryptionError } from '#common';
import { TokenkeeperError } from '#core';
import {
  CredentialNotFoundError,
  InvalidCredentialInputError,
  TokenSourceForbiddenError,
  TokenUnavailableError,
} from '#refresh';
import { InvalidCursorError, RevisionConflictError } from '#store';
import { DeliveryInProgressError, InvalidSubscriptionInputError } from '#webhooks';
import { type Problem, problem } from './problem.js';

/** Every error leaves the API as `application/problem+json` that says what to fix; 5xx never leak internals. */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger(ProblemDetailsFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const reply = ctx.getResponse<FastifyReply>();
    const request = ctx.getRequest<FastifyRequest>();
    const body: Problem = { ...this.toProblem(exception), instance: request.url.split('?')[0] ?? '' };
    if (body.status >= 500 && body.status !== 503) {
      this.logger.error({
        msg: 'request failed',
        method: request.method,
        path: body.instance,
        err: exception,
      });
    }
    if (body.status === 503 && typeof body.retryAfter === 'number')
      reply.header('retry-after', String(body.retryAfter));
    void reply
      .status(body.status)
      .header('content-type', 'application/problem+json')
      .header('cache-control', 'no-store')
      .send(body);
  }

  private toProblem(e: unknown): Problem {
    if (e instanceof HttpException) {
      const res = e.getResponse();
      if (typeof res === 'object' && res && 'type' in res && 'status' in res) return res as Problem;
      const status = e.getStatus();
      const message = typeof res === 'string' ? res : ((res as { message?: unknown }).message ?? e.message);
      return problem(
        status,
        status === 404 ? 'NOT_FOUND' : `HTTP_${status}`,
        String(Array.isArray(message) ? message.join('; ') : message),
      );
    }
    if (e instanceof CredentialNotFoundError)
      return problem(404, e.code, 'Credential not found', { detail: e.message });
    if (e instanceof InvalidCredentialInputError) {
      return problem(422, e.code, 'The credential cannot be used as given', {
        detail: `${e.field}: ${e.message}`,
        errors: [{ field: e.field, message: e.message }],
      });
    }
    if (e instanceof TokenSourceForbiddenError) {
      return problem(403, e.code, 'The API key may not use another credential’s token', {
        detail: e.message,
        errors: [{ field: e.field, message: e.message }],
      });
    }
    if (e instanceof TokenUnavailableError) {
      return problem(503, e.code, 'No valid token available', {
        detail: e.message,
        reason: e.reason,
        ...(e.retryAfterSeconds !== undefined ? { retryAfter: e.retryAfterSeconds } : {}),
      });
    }
    if (e instanceof InvalidCursorError) return problem(400, e.code, 'Invalid cursor', { detail: e.message });
    if (e instanceof RevisionConflictError) {
      return problem(409, e.code, 'The credential changed meanwhile', {
        detail: 'read it again and retry the change',
      });
    }
    if (e instanceof SecretDecryptionError) {
      return problem(503, e.code, 'The credential’s stored secrets cannot be read', { detail: e.message });
    }
    if (e instanceof InvalidSubscriptionInputError) {
      return problem(422, e.code, 'The subscription cannot be used as given', {
        detail: `${e.field}: ${e.message}`,
        errors: [{ field: e.field, message: e.message }],
      });
    }
    if (e instanceof DeliveryInProgressError) {
      return problem(409, e.code, 'The delivery is still being attempted', { detail: e.message });
    }
    if (e instanceof TokenkeeperError && e.code.endsWith('_NOT_FOUND'))
      return problem(404, e.code, 'Not found', { detail: e.message });
    if (e instanceof TokenkeeperError) return problem(500, e.code, 'Internal error');
    // Errors raised by Fastify before a route runs: bad JSON, body too large, wrong content type.
    const fastify = e as { statusCode?: number; code?: string; message?: string };
    if (typeof fastify.statusCode === 'number' && fastify.statusCode >= 400 && fastify.statusCode < 500) {
      return problem(
        fastify.statusCode,
        fastify.code ?? `HTTP_${fastify.statusCode}`,
        fastifyTitle(fastify.statusCode),
        {
          detail: fastify.message ?? '',
        },
      );
    }
    return problem(500, 'INTERNAL', 'Internal error', { detail: 'the error was logged; retry later' });
  }
}

function fastifyTitle(status: number): string {
  switch (status) {
    case 400:
      return 'The request body is not valid JSON';
    case 413:
      return 'The request body is too large';
    case 415:
      return 'Unsupported content type: send application/json';
    default:
      return 'Bad request';
  }
}
