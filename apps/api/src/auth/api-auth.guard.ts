import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { type Principal, PUBLIC_ROUTE } from './principal.js';

/**
 * The authentication seam. Every route passes through here and reads its caller from
 * `request.principal`. Until API keys exist, every caller acts as an admin of the `default`
 * namespace: run the API only where its network is trusted.
 */
@Injectable()
export class ApiAuthGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(ctx: ExecutionContext): boolean {
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, [ctx.getHandler(), ctx.getClass()]))
      return true;
    const request = ctx.switchToHttp().getRequest<{ principal?: Principal }>();
    request.principal = { namespace: 'default', scopes: ['admin'] };
    return true;
  }
}
