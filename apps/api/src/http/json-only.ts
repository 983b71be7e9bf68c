import type { FastifyInstance } from 'fastify';
import { problem } from './problem.js';

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
        problem(415, 'UNSUPPORTED_MEDIA_TYPE', 'Unsupported content type: send application/json', {
          detail: `got ${type ?? 'no content type'}; send the body as JSON with Content-Type: application/json`,
          instance: request.url.split('?')[0] ?? '',
        }),
      );
  });
}
