import { Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Res } from '@nestjs/common';
import { ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { OutboundPolicy } from '#common';
import { CredentialNotFoundError, CredentialService, TokenService } from '#refresh';
import { CredentialStore } from '#store';
import { hasScope } from '../auth/api-keys.js';
import { CurrentPrincipal, type Principal, RequireScope } from '../auth/principal.js';
import { idCheck } from '../http/views.js';
import { JsonBody, ZodValidationPipe } from '../http/zod-validation.pipe.js';
import {
  CREDENTIAL_ID,
  eventsQuerySchema,
  invalidateSchema,
  listQuerySchema,
  outboundUrlsOf,
  type RegisterCredentialBody,
  registerCredentialSchema,
  tokenQuerySchema,
  type UpdateCredentialBody,
  updateCredentialSchema,
} from './credential.schemas.js';
import { credentialView, eventView } from './credential-view.js';
import { checkOutboundUrls } from './outbound-check.js';
import { tokenBody } from './token-body.js';

const checkId = idCheck(CREDENTIAL_ID, (id) => new CredentialNotFoundError(id));

@ApiTags('credentials')
@Controller('v1/credentials')
export class CredentialsController {
  constructor(
    private readonly credentials: CredentialService,
    private readonly tokens: TokenService,
    private readonly store: CredentialStore,
    private readonly outbound: OutboundPolicy,
  ) {}

  @Post()
  @RequireScope('credentials:write')
  @ApiOperation({ summary: 'Register a credential; its first refresh is scheduled at once' })
  async register(
    @CurrentPrincipal() principal: Principal,
    @JsonBody(registerCredentialSchema) body: RegisterCredentialBody,
  ) {
    await checkOutboundUrls(this.outbound, outboundUrlsOf(body));
    const projection = await this.credentials.register({
      ...body,
      namespace: principal.namespace,
      canReadTokens: hasScope(principal.scopes, 'token:read'),
    });
    return credentialView(projection);
  }

  @Get()
  @RequireScope('credentials:read')
  @ApiOperation({ summary: 'List credentials, filtered by state and labels (key=value)' })
  @ApiQuery({ name: 'state', required: false })
  @ApiQuery({ name: 'label', required: false, isArray: true })
  @ApiQuery({ name: 'limit', required: false })
  @ApiQuery({ name: 'cursor', required: false })
  async list(
    @CurrentPrincipal() principal: Principal,
    @Query(new ZodValidationPipe(listQuerySchema, 'query')) q: z.infer<typeof listQuerySchema>,
  ) {
    const labels = Object.fromEntries(
      q.label.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const page = await this.store.list({
      namespace: principal.namespace,
      limit: q.limit,
      ...(q.state ? { state: q.state } : {}),
      ...(q.label.length ? { labels } : {}),
      ...(q.cursor ? { cursor: q.cursor } : {}),
    });
    return {
      items: page.items.map(credentialView),
      ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
    };
  }

  @Get(':id')
  @RequireScope('credentials:read')
  @ApiOperation({ summary: 'Status of a credential (never its secrets)' })
  async get(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    return credentialView(await this.credentials.get(principal.namespace, checkId(id)));
  }

  @Patch(':id')
  @RequireScope('credentials:write')
  @ApiOperation({ summary: 'Change a credential; new secrets re-activate one that needs re-authentication' })
  async update(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @JsonBody(updateCredentialSchema) body: UpdateCredentialBody,
  ) {
    checkId(id);
    await checkOutboundUrls(this.outbound, outboundUrlsOf(body));
    return credentialView(
      await this.credentials.update(principal.namespace, id, {
        ...body,
        canReadTokens: hasScope(principal.scopes, 'token:read'),
      }),
    );
  }

  @Delete(':id')
  @HttpCode(204)
  @RequireScope('credentials:write')
  @ApiOperation({
    summary: 'Remove a credential: pending refreshes are cancelled, secrets deleted, history kept for 7 days',
  })
  async remove(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<void> {
    await this.credentials.revoke(principal.namespace, checkId(id));
  }

  @Get(':id/token')
  @RequireScope('token:read')
  @ApiOperation({
    summary:
      'The current access token with at least minTtl seconds left; refreshes and waits (bounded) otherwise. Never an expired token.',
  })
  @ApiQuery({
    name: 'minTtl',
    required: false,
    description:
      'seconds of validity required (default 30), at most half the token lifetime (TK_TOKEN_MIN_TTL_MAX_FRACTION)',
  })
  async token(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Query(new ZodValidationPipe(tokenQuerySchema, 'query')) q: z.infer<typeof tokenQuerySchema>,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    return tokenBody(reply, await this.tokens.getToken(principal.namespace, checkId(id), q.minTtl));
  }

  @Post(':id/token/invalidate')
  @HttpCode(200)
  @RequireScope('token:read')
  @ApiOperation({
    summary: 'Report that token `version` was refused (401); the first report per version refreshes',
  })
  async invalidate(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @JsonBody(invalidateSchema) body: z.infer<typeof invalidateSchema>,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    return tokenBody(reply, await this.tokens.invalidate(principal.namespace, checkId(id), body.version));
  }

  @Post(':id/refresh')
  @HttpCode(202)
  @RequireScope('credentials:write')
  @ApiOperation({ summary: 'Refresh now (shared with any refresh already requested)' })
  async refresh(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    return this.credentials.requestRefresh(principal.namespace, checkId(id));
  }

  @Get(':id/events')
  @RequireScope('events:read')
  @ApiOperation({ summary: 'The credential’s event history, oldest first; page with after=<revision>' })
  async events(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Query(new ZodValidationPipe(eventsQuerySchema, 'query')) q: z.infer<typeof eventsQuerySchema>,
  ) {
    const events = await this.credentials.history(principal.namespace, checkId(id), q.after, q.limit);
    return { items: events.map(eventView) };
  }
}
