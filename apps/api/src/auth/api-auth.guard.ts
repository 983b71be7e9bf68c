import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ProblemException } from '../http/problem.js';
import { ApiKeyAuthenticator } from './api-key-authenticator.js';
import { hasScope } from './api-keys.js';
import { type Principal, PUBLIC_ROUTE, REQUIRED_SCOPE } from './principal.js';

/** The bearer credential of a request, if it sent one. */
export function bearerOf(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/**
 * Every route needs an API key (`Authorization: Bearer tk_…`) unless marked `@Public()`; the
 * route's `@RequireScope` names the scope it needs, and a route without one needs `admin` (a
 * route someone forgot to annotate stays closed rather than open).
 */
@Injectable()
export class ApiAuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly authenticator: ApiKeyAuthenticator,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const targets = [ctx.getHandler(), ctx.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets)) return true;
    const http = ctx.switchToHttp();
    const request = http.getRequest<FastifyRequest & { principal?: Principal }>();
    const key = bearerOf(request.headers.authorization);
    const principal = key ? await this.authenticator.authenticate(key) : undefined;
    if (!principal) {
      void http.getResponse<FastifyReply>().header('www-authenticate', 'Bearer realm="tokenkeeper"');
      throw new ProblemException('UNAUTHENTICATED', {
        detail: key ? 'the API key is unknown or revoked' : 'send Authorization: Bearer <API key> (tk_…)',
      });
    }
    const required = this.reflector.getAllAndOverride<string>(REQUIRED_SCOPE, targets) ?? 'admin';
    if (!hasScope(principal.scopes, required)) {
      throw new ProblemException('FORBIDDEN', {
        detail: `this route needs scope ${required}`,
        requiredScope: required,
      });
    }
    request.principal = principal;
    return true;
  }
}
