import type { FastifyInstance } from 'fastify';

/**
 * Once shutdown has begun, every response ends its connection (`Connection: close`). Node's
 * server close drops only the connections idle at that moment; a keep-alive connection whose
 * request was still running would otherwise stay open after its answer and hold the close up
 * until the keep-alive timeout. Returns the switch the shutdown handler flips.
 */
export function closeConnectionsOnShutdown(fastify: FastifyInstance): () => void {
  let closing = false;
  fastify.addHook('onSend', async (request, reply, payload) => {
    if (closing && request.raw.httpVersionMajor === 1) void reply.header('connection', 'close');
    return payload;
  });
  return () => {
    closing = true;
  };
}
