import type { Server } from 'node:http';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance } from 'fastify';
import { boundText, jsonDepthExceeds } from '#core';
import { problemFor } from './problem.js';

export { jsonDepthExceeds };

const WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

/**
 * The API speaks JSON only. Without this, a form-encoded body would be parsed and reach
 * validation as if the caller had meant it, and the error would not say what is wrong.
 */
export function requireJsonBodies(fastify: FastifyInstance, pathPrefix = '/v1/'): void {
  fastify.addHook('onRequest', async (request, reply) => {
    if (!WITH_BODY.has(request.method) || !request.url.startsWith(pathPrefix)) return;
    const type = request.headers['content-type'];
    const length = request.headers['content-length'];
    if (type === undefined && (length === undefined || length === '0')) return;
    if (type && /^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) return;
    await reply
      .status(415)
      .header('content-type', 'application/problem+json')
      .send(
        problemFor('UNSUPPORTED_MEDIA_TYPE', {
          detail: `got ${type === undefined ? 'no content type' : boundText(type, 128)}; send the body as JSON with Content-Type: application/json`,
          instance: request.url.split('?')[0] ?? '',
        }),
      );
  });
}

/** How deeply a JSON body may nest objects and arrays; no request of the API needs more than a few levels. */
export const MAX_JSON_DEPTH = 32;

/**
 * Parses JSON bodies as Fastify does (prototype poisoning refused), after refusing bodies nested
 * deeper than `maxDepth` with a 400 problem (`JSON_TOO_DEEP`) that says the limit.
 */
export function limitJsonDepth(
  app: NestFastifyApplication,
  bodyLimit: number,
  maxDepth = MAX_JSON_DEPTH,
): void {
  const fastify = app.getHttpAdapter().getInstance();
  const parse = fastify.getDefaultJsonParser('error', 'error');
  app.useBodyParser<Server>('application/json', { bodyLimit }, (request, body, done) => {
    const text = body.toString('utf8');
    if (jsonDepthExceeds(text, maxDepth)) {
      const err = Object.assign(
        new Error(`the JSON body nests objects or arrays deeper than ${maxDepth} levels; flatten it`),
        { statusCode: 400, code: 'JSON_TOO_DEEP' },
      );
      done(err, undefined);
      return;
    }
    parse(request, text, done);
  });
}
