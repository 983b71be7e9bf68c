import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { KeyRing } from '#common';
import { ReEncryption } from '#refresh';
import { OPERATOR_NAMESPACE } from '../auth/api-keys.js';
import { CurrentPrincipal, type Principal, RequireScope } from '../auth/principal.js';
import { ProblemException } from '../http/problem.js';

/** Key ring state for operators: which keys this process has and how re-encryption is going. */
@ApiTags('admin')
@Controller('v1/admin/encryption')
export class EncryptionController {
  constructor(
    private readonly keyRing: KeyRing,
    private readonly reEncryption: ReEncryption,
  ) {}

  @Get()
  @RequireScope('admin')
  @ApiOperation({
    summary: 'Configured key ids, the primary, and the latest re-encryption pass (operator admins)',
  })
  async status(@CurrentPrincipal() principal: Principal) {
    if (principal.namespace !== OPERATOR_NAMESPACE) {
      throw new ProblemException('FORBIDDEN', {
        detail: `only admins of the operator namespace see the key ring: encryption covers every namespace; use an admin key of namespace ${OPERATOR_NAMESPACE}`,
      });
    }
    const last = await this.reEncryption.status();
    return {
      primaryKeyId: this.keyRing.primaryKid,
      keyIds: this.keyRing.keyIds,
      ...(last
        ? {
            reEncryption: {
              ...last,
              startedAt: new Date(last.startedAt).toISOString(),
              ...(last.finishedAt ? { finishedAt: new Date(last.finishedAt).toISOString() } : {}),
            },
          }
        : {}),
    };
  }
}
