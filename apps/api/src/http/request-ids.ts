import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { logContext } from '#common';

const SANE_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * Fastify's request id: the caller's `x-request-id` when it looks like an id (so a request can be
 * followed through a proxy), else a fresh UUID. Passed as the adapter's `genReqId`.
 */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && SANE_ID.test(given) ? given : randomUUID();
}

/**
 * Every log line written while a request is handled carries its `request_id` (see the logger's
 * mixin), the response echoes it in `x-request-id`, and each request is logged at debug level.
 */
export function setupRequestIds(fastify: FastifyInstance, logger: Logger): void {
  fastify.addHook('onRequest', (req, reply, done) => {
    void reply.header('x-request-id', req.id);
    logContext.run({ requestId: req.id }, done);
  });
  fastify.addHook('onResponse', (req, reply, done) => {
    if (logger.isLevelEnabled('debug')) {
      logger.debug(
        {
          method: req.method,
          route: req.routeOptions.url,
          status: reply.statusCode,
          ms: Math.round(reply.elapsedTime),
        },
        'request',
      );
    }
    done();
  });
}
