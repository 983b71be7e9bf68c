import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isProblemCode, PROBLEM_CODES, type ProblemCode, TokenkeeperError } from '#core';
import { type Problem, problem, problemFor } from './problem.js';

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
      if (status >= 500)
        return problemFor('INTERNAL', { status, detail: 'the error was logged; retry later' });
      const code = status === 404 ? 'NOT_FOUND' : 'BAD_REQUEST';
      return problem(status, code, PROBLEM_CODES[code].title, {
        detail: String(Array.isArray(message) ? message.join('; ') : message),
      });
    }
    // Errors raised on purpose: the code's row in PROBLEM_CODES gives status and title. A code
    // without a row stays inside the services: its message is logged, never answered.
    if (e instanceof TokenkeeperError && isProblemCode(e.code) && e.code !== 'INTERNAL')
      return problemFor(e.code, e.problemFields());
    // Errors raised by Fastify before a route runs: bad JSON, body too large, wrong content type.
    const fastify = e as { statusCode?: number; code?: string; message?: string };
    if (typeof fastify.statusCode === 'number' && fastify.statusCode >= 400 && fastify.statusCode < 500) {
      const code = isProblemCode(fastify.code)
        ? fastify.code
        : (FASTIFY_CODES[fastify.statusCode] ?? 'BAD_REQUEST');
      return problem(fastify.statusCode, code, PROBLEM_CODES[code].title, { detail: fastify.message ?? '' });
    }
    return problemFor('INTERNAL', { detail: 'the error was logged; retry later' });
  }
}

/** Codes for what Fastify refuses before a route runs, by status. */
const FASTIFY_CODES: Record<number, ProblemCode> = {
  400: 'INVALID_JSON',
  413: 'BODY_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};
