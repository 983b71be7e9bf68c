import { createParamDecorator, type ExecutionContext, SetMetadata } from '@nestjs/common';

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
/** The scope a route needs; checked by the API guard. */
export const RequireScope = (scope: string) => SetMetadata(REQUIRED_SCOPE, scope);

export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  const request = ctx.switchToHttp().getRequest<{ principal?: Principal }>();
  if (!request.principal) throw new Error('no principal on the request: is ApiAuthGuard installed?');
  return request.principal;
});
