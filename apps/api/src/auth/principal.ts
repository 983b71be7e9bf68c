import { applyDecorators, createParamDecorator, type ExecutionContext, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth, ApiExtension } from '@nestjs/swagger';

/** Who is calling: the namespace they act in and what they may do. */
export interface Principal {
  namespace: string;
  scopes: string[];
  keyId?: string;
}

export const PUBLIC_ROUTE = 'tokenkeeper:public';
/** Marks a route reachable without credentials (health probes). */
export const Public = () => SetMetadata(PUBLIC_ROUTE, true);

export const REQUIRED_SCOPE = 'tokenkeeper:scope';
/**
 * The scope a route needs; checked by the API guard, and published in the OpenAPI document as
 * `x-required-scope` (the route matrix test reads it from there).
 */
export const RequireScope = (scope: string) =>
  applyDecorators(
    SetMetadata(REQUIRED_SCOPE, scope),
    ApiExtension('x-required-scope', scope),
    ApiBearerAuth(),
  );

export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  const request = ctx.switchToHttp().getRequest<{ principal?: Principal }>();
  if (!request.principal) throw new Error('no principal on the request: is ApiAuthGuard installed?');
  return request.principal;
});
