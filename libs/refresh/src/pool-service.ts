import { randomBytes } from 'node:crypto';
import type { CredentialProjection } from '#core';
import type { Pool } from '#store';
import { CredentialNotFoundError, InvalidCredentialInputError, TokenUnavailableError } from './errors.js';
import type { CredentialStorePort, PoolStorePort } from './ports.js';
import type { ServedToken, TokenService } from './token-service.js';
import { visibleIn } from './visibility.js';

export interface PoolToken extends ServedToken {
  credentialId: string;
}

/**
 * Serves a token from any healthy member of a pool, round-robin among the active ones. Members
 * that need re-authentication, are revoked or hold no valid token are skipped; when none is left
 * the answer says why each member was passed over.
 */
export class PoolService {
  constructor(
    private readonly pools: PoolStorePort,
    private readonly store: Pick<CredentialStorePort, 'getMany'>,
    private readonly tokens: Pick<TokenService, 'getToken'>,
    private readonly now: () => number = Date.now,
  ) {}

  async create(namespace: string, input: { name?: string; members: string[] }): Promise<Pool> {
    if (input.members.length === 0) throw new InvalidCredentialInputError('members', 'a pool needs a member');
    const members = [...new Set(input.members)];
    const projections = await this.store.getMany(members);
    projections.forEach((p, i) => {
      if (!visibleIn(p, namespace)) {
        // The position in the request as sent, duplicates included: that is the field to fix.
        const field = `members.${input.members.indexOf(members[i]!)}`;
        throw new InvalidCredentialInputError(field, `no credential ${members[i]}`);
      }
    });
    const pool: Pool = {
      id: `pool_${randomBytes(12).toString('base64url')}`,
      namespace,
      name: input.name ?? 'pool',
      members,
      createdAt: this.now(),
    };
    await this.pools.create(pool);
    return pool;
  }

  get(namespace: string, id: string): Promise<Pool> {
    return this.pools.get(namespace, id);
  }

  list(namespace: string): Promise<Pool[]> {
    return this.pools.list(namespace);
  }

  delete(namespace: string, id: string): Promise<void> {
    return this.pools.delete(namespace, id);
  }

  async token(namespace: string, id: string, minTtlSeconds: number): Promise<PoolToken> {
    const pool = await this.pools.get(namespace, id);
    const projections = await this.store.getMany(pool.members);
    const start = await this.pools.nextIndex(id);
    const passedOver: string[] = [];
    let anyAuth = false;
    for (let i = 0; i < pool.members.length; i++) {
      const index = (start + i) % pool.members.length;
      const memberId = pool.members[index]!;
      const p = projections[index];
      const skip = this.skipReason(p, namespace);
      if (skip) {
        anyAuth ||= skip === 'reauth_required';
        passedOver.push(`${memberId} ${skip}`);
        continue;
      }
      try {
        const token = await this.tokens.getToken(namespace, memberId, minTtlSeconds);
        return { ...token, credentialId: memberId };
      } catch (err) {
        // Deleted since the pool was read: passed over like a member found deleted above.
        if (err instanceof CredentialNotFoundError) {
          passedOver.push(`${memberId} removed`);
          continue;
        }
        if (!(err instanceof TokenUnavailableError)) throw err;
        anyAuth ||= err.reason === 'auth';
        passedOver.push(`${memberId} ${err.reason}: ${err.message}`);
      }
    }
    throw new TokenUnavailableError(
      anyAuth ? 'auth' : 'network',
      `no healthy member in pool ${id}: ${passedOver.join('; ')}`,
    );
  }

  private skipReason(p: CredentialProjection | undefined, namespace: string): string | undefined {
    if (!visibleIn(p, namespace)) return 'removed';
    if (p.state === 'reauth_required') return 'reauth_required';
    if (p.state === 'expired') return 'expired';
    if (!p.token || p.token.expiresAt <= this.now()) return 'has no valid token';
    return undefined;
  }
}
