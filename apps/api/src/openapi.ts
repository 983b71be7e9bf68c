import type { INestApplication } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiKeyAuthenticator } from './auth/api-key-authenticator.js';
import { problemFor } from './http/problem.js';
import { presentedKey } from './queues-board.js';

/** `/docs`, `/docs/…` (the UI's assets), `/docs-json`, `/docs-yaml`. */
const DOCS_PATH = /^\/docs(?:[/?]|-json(?:[/?]|$)|-yaml(?:[/?]|$)|$)/;

/**
 * OpenAPI document at /docs-json and its UI at /docs. Unless `TK_PUBLIC_DOCS=1`, both need an API
 * key of any scope: `Authorization: Bearer tk_…`, or HTTP Basic with the key as password (what a
 * browser prompts for). The document names every route and field, which is nobody else's business.
 */
export function setupOpenApi(app: INestApplication, publicDocs: boolean): void {
  if (!publicDocs) requireKeyForDocs(app as NestFastifyApplication);
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('tokenkeeper')
      .setDescription('Keeps short-lived credentials fresh. Errors are RFC 9457 problem details.')
      .setVersion('0.1.0')
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
}

function requireKeyForDocs(app: NestFastifyApplication): void {
  const authenticator = app.get(ApiKeyAuthenticator);
  const fastify = app.getHttpAdapter().getInstance() as unknown as FastifyInstance;
  fastify.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    // The matched route, not the raw URL: `/%64ocs-json` routes to /docs-json too.
    if (!DOCS_PATH.test(request.routeOptions.url ?? request.url)) return;
    const key = presentedKey(request.headers.authorization);
    if (key && (await authenticator.authenticate(key))) return;
    return reply
      .status(401)
      .header('www-authenticate', 'Basic realm="tokenkeeper docs", charset="UTF-8"')
      .header('content-type', 'application/problem+json')
      .header('cache-control', 'no-store')
      .send(
        problemFor('UNAUTHENTICATED', {
          detail: key
            ? 'the API key is unknown or revoked'
            : 'send Authorization: Bearer <API key>, or sign in with any user name and an API key as password',
          instance: '/docs',
        }),
      );
  });
}
