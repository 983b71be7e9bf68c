import { Controller, Delete, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { PoolService } from '#refresh';
import type { Pool } from '#store';
import { CurrentPrincipal, type Principal, RequireScope } from '../auth/principal.js';
import { CREDENTIAL_ID, tokenQuerySchema } from '../credentials/credential.schemas.js';
import { tokenBody } from '../credentials/token-body.js';
import { isoTime } from '../http/views.js';
import { JsonBody, ZodValidationPipe } from '../http/zod-validation.pipe.js';

const createPoolSchema = z
  .object({
    name: z.string().min(1).max(200).optional(),
    members: z.array(z.string().regex(CREDENTIAL_ID, 'not a credential id')).min(1).max(100),
  })
  .strict();

const poolView = (p: Pool) => ({
  id: p.id,
  name: p.name,
  members: p.members,
  createdAt: isoTime(p.createdAt),
});

@ApiTags('pools')
@Controller('v1/pools')
export class PoolsController {
  constructor(private readonly pools: PoolService) {}

  @Post()
  @RequireScope('credentials:write')
  @ApiOperation({ summary: 'Group credentials for the same upstream; tokens come from any healthy member' })
  async create(
    @CurrentPrincipal() principal: Principal,
    @JsonBody(createPoolSchema) body: z.infer<typeof createPoolSchema>,
  ) {
    return poolView(await this.pools.create(principal.namespace, body));
  }

  @Get()
  @RequireScope('credentials:read')
  async list(@CurrentPrincipal() principal: Principal) {
    return { items: (await this.pools.list(principal.namespace)).map(poolView) };
  }

  @Get(':id')
  @RequireScope('credentials:read')
  async get(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    return poolView(await this.pools.get(principal.namespace, id));
  }

  @Delete(':id')
  @HttpCode(204)
  @RequireScope('credentials:write')
  async remove(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<void> {
    await this.pools.delete(principal.namespace, id);
  }

  @Get(':id/token')
  @RequireScope('token:read')
  @ApiOperation({
    summary:
      'A token from a healthy member, round-robin; members needing re-authentication or expired are skipped',
  })
  @ApiQuery({ name: 'minTtl', required: false })
  async token(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Query(new ZodValidationPipe(tokenQuerySchema, 'query')) q: z.infer<typeof tokenQuerySchema>,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const token = await this.pools.token(principal.namespace, id, q.minTtl);
    return { ...tokenBody(reply, token), credentialId: token.credentialId };
  }
}
