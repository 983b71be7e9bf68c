import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter as BullBoardFastifyAdapter } from '@bull-board/fastify';
import { getQueueToken } from '@nestjs/bullmq';
import { ModuleRef } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { QueueName } from '#queues';
import { bearerOf } from './auth/api-auth.guard.js';
import { ApiKeyAuthenticator } from './auth/api-key-authenticator.js';
import { OPERATOR_NAMESPACE } from './auth/api-keys.js';
import { problemFor } from './http/problem.js';

export const QUEUES_PATH = '/queues';

/** The admin key a browser sends: HTTP Basic with the key as password (any user name), or a bearer. */
export function presentedKey(header: string | undefined): string | undefined {
  const bearer = bearerOf(header);
  if (bearer) return bearer;
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const sep = decoded.indexOf(':');
  return sep >= 0 ? decoded.slice(sep + 1) : undefined;
}

/**
 * Bull Board at /queues for operators: admin keys of the operator namespace only, since queues
 * hold every namespace's jobs (ids only, never secrets). Served by Fastify directly, so it has its
 * own auth hook instead of the Nest guard.
 */
export async function setupQueuesBoard(app: NestFastifyApplication): Promise<void> {
  const authenticator = app.get(ApiKeyAuthenticator);
  // Through ModuleRef: the application's own `get` exits the process on an unknown token.
  const moduleRef = app.get(ModuleRef);
  const queues: Queue[] = [];
  for (const name of Object.values(QueueName)) {
    try {
      queues.push(moduleRef.get<Queue>(getQueueToken(name), { strict: false }));
    } catch {
      // A queue declared but not registered in this process: nothing to show for it.
    }
  }
  const serverAdapter = new BullBoardFastifyAdapter();
  serverAdapter.setBasePath(QUEUES_PATH);
  createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q)), serverAdapter });

  const fastify = app.getHttpAdapter().getInstance() as unknown as FastifyInstance;
  await fastify.register(
    async (scope) => {
      scope.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
        const key = presentedKey(request.headers.authorization);
        const principal = key ? await authenticator.authenticate(key) : undefined;
        if (principal?.scopes.includes('admin') && principal.namespace === OPERATOR_NAMESPACE) return;
        const body = problemFor(principal ? 'FORBIDDEN' : 'UNAUTHENTICATED', {
          detail:
            'Bull Board needs an operator admin key: sign in with any user name and an admin API key of the default namespace as password',
          instance: QUEUES_PATH,
        });
        if (!principal)
          void reply.header('www-authenticate', 'Basic realm="tokenkeeper queues", charset="UTF-8"');
        return reply
          .status(body.status)
          .header('content-type', 'application/problem+json')
          .header('cache-control', 'no-store')
          .send(body);
      });
      await scope.register(serverAdapter.registerPlugin() as never);
    },
    { prefix: QUEUES_PATH },
  );
}
