import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppConfig } from '#common';
import { CONFIG } from '#runtime';
import { ProblemException } from '../http/problem.js';
import { TokenBuckets } from '../http/token-bucket.js';
import type { Principal } from './principal.js';
import { REQUIRED_SCOPE } from './principal.js';

/**
 * Per-key rate limits on the token endpoint (routes needing `token:read`), on writes (any other
 * non-GET route) and on every other read (listing, reading credentials, the feed), each with its
 * own bucket. In-process, so a token read costs no Redis round trip. Runs after ApiAuthGuard, so
 * the caller is known; a 429 says when to retry.
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  private readonly token: TokenBuckets;
  private readonly write: TokenBuckets;
  private readonly read: TokenBuckets;

  constructor(
    private readonly reflector: Reflector,
    @Inject(CONFIG) config: AppConfig,
  ) {
    const { token, write, read } = config.security.rateLimits;
    this.token = new TokenBuckets(token.perSecond, token.burst);
    this.write = new TokenBuckets(write.perSecond, write.burst);
    this.read = new TokenBuckets(read.perSecond, read.burst);
  }

  canActivate(ctx: ExecutionContext): boolean {
    const http = ctx.switchToHttp();
    const request = http.getRequest<FastifyRequest & { principal?: Principal }>();
    const principal = request.principal;
    if (!principal) return true; // public route
    const scope = this.reflector.getAllAndOverride<string>(REQUIRED_SCOPE, [
      ctx.getHandler(),
      ctx.getClass(),
    ]);
    const isWrite = request.method !== 'GET' && request.method !== 'HEAD';
    const [buckets, what] =
      scope === 'token:read'
        ? [this.token, 'token requests']
        : isWrite
          ? [this.write, 'writes']
          : [this.read, 'reads'];
    if (!buckets.enabled) return true;
    const retryAfter = buckets.take(principal.keyId ?? principal.namespace, Date.now());
    if (retryAfter === 0) return true;
    void http.getResponse<FastifyReply>().header('retry-after', String(retryAfter));
    throw new ProblemException('RATE_LIMITED', {
      detail: `the ${what} limit of this API key is exhausted; retry in ${retryAfter} s`,
      retryAfter,
    });
  }
}
