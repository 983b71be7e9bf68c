import { Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { ProblemException } from '../http/problem.js';
import { isoTime } from '../http/views.js';
import { JsonBody, ZodValidationPipe } from '../http/zod-validation.pipe.js';
import { ApiKeyAuthenticator } from './api-key-authenticator.js';
import type { ApiKeyRecord } from './api-key-store.js';
import { API_KEY_SCOPES, generateApiKey, generateKeyId, hashApiKey, OPERATOR_NAMESPACE } from './api-keys.js';
import { CurrentPrincipal, type Principal, RequireScope } from './principal.js';

const NAMESPACE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const KEY_ID = /^key_[A-Za-z0-9_-]{8,40}$/;

export const createApiKeySchema = z
  .object({
    name: z.string().min(1).max(200),
    namespace: z.string().regex(NAMESPACE, 'namespaces are 1-63 of [A-Za-z0-9_.-]').optional(),
    scopes: z
      .array(z.enum(API_KEY_SCOPES))
      .min(1, 'give at least one scope')
      .max(API_KEY_SCOPES.length)
      .refine((s) => new Set(s).size === s.length, 'scopes must not repeat'),
  })
  .strict();

const listApiKeysQuery = z
  .object({ namespace: z.string().regex(NAMESPACE, 'namespaces are 1-63 of [A-Za-z0-9_.-]').optional() })
  .strict();

function view(r: ApiKeyRecord) {
  return {
    id: r.id,
    name: r.name,
    namespace: r.namespace,
    scopes: r.scopes,
    createdAt: isoTime(r.createdAt),
    ...(r.revokedAt !== undefined ? { revokedAt: isoTime(r.revokedAt) } : {}),
  };
}

const notFound = (id: string) => new ProblemException('API_KEY_NOT_FOUND', { detail: `no API key ${id}` });

/**
 * Managing API keys (admin). An admin manages its own namespace; admins of the operator namespace
 * (`default`, where the bootstrap key lives) manage every namespace.
 */
@ApiTags('api-keys')
@Controller('v1/api-keys')
export class ApiKeysController {
  constructor(private readonly authenticator: ApiKeyAuthenticator) {}

  @Post()
  @RequireScope('admin')
  @ApiOperation({ summary: 'Create an API key; the key is in this response only, stored as an HMAC' })
  async create(
    @CurrentPrincipal() principal: Principal,
    @JsonBody(createApiKeySchema) body: z.infer<typeof createApiKeySchema>,
  ) {
    const namespace = body.namespace ?? principal.namespace;
    this.checkNamespace(principal, namespace);
    const key = generateApiKey();
    const { store } = this.authenticator;
    const record = await store.create({
      id: generateKeyId(),
      name: body.name,
      namespace,
      scopes: body.scopes,
      keyHash: store.lookupIdOf(hashApiKey(key)),
      createdAt: Date.now(),
    });
    return { ...view(record), key };
  }

  @Get()
  @RequireScope('admin')
  @ApiOperation({ summary: 'List API keys of your namespace (never the keys themselves)' })
  async list(
    @CurrentPrincipal() principal: Principal,
    @Query(new ZodValidationPipe(listApiKeysQuery, 'query')) q: z.infer<typeof listApiKeysQuery>,
  ) {
    const namespace =
      q.namespace ?? (principal.namespace === OPERATOR_NAMESPACE ? undefined : principal.namespace);
    if (namespace) this.checkNamespace(principal, namespace);
    const all = await this.authenticator.store.list();
    const items = all
      .filter((r) => namespace === undefined || r.namespace === namespace)
      .sort((a, b) => a.createdAt - b.createdAt)
      .map(view);
    return { items };
  }

  @Delete(':id')
  @HttpCode(204)
  @RequireScope('admin')
  @ApiOperation({ summary: 'Revoke an API key; every api replica refuses it within a second' })
  async revoke(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<void> {
    if (!KEY_ID.test(id)) throw notFound(id.slice(0, 80));
    const record = await this.authenticator.store.findById(id);
    if (!record || (principal.namespace !== OPERATOR_NAMESPACE && record.namespace !== principal.namespace)) {
      throw notFound(id);
    }
    if (record.revokedAt === undefined) await this.authenticator.store.revoke(record, Date.now());
    this.authenticator.forget(record.keyHash);
  }

  private checkNamespace(principal: Principal, namespace: string): void {
    if (namespace !== principal.namespace && principal.namespace !== OPERATOR_NAMESPACE) {
      throw new ProblemException('FORBIDDEN', {
        detail: `admins manage the keys of their own namespace only: this key administers namespace ${principal.namespace}, not ${namespace}`,
      });
    }
  }
}
