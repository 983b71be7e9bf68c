import { randomBytes } from 'node:crypto';
import {
  type ClientAuthMethod,
  type CredentialKind,
  type CredentialProjection,
  computeRefreshAt,
  type GrantSettings,
  type NewEvent,
  newEvent,
  type RefreshPolicy,
  type RefreshPolicyOverrides,
  resolvePolicy,
  tokenLifetime,
} from '#core';
import { type CredentialSecrets, discoverTokenEndpoint, requiresClientSecret } from '#grants';
import type { CredentialStore, StoredEvent } from '#store';
import type { CredentialCipher } from './credential-secrets.js';
import { CredentialNotFoundError, InvalidCredentialInputError } from './errors.js';
import type { RefreshScheduler } from './refresh-scheduler.js';

export interface GrantInput {
  tokenEndpoint?: string;
  issuer?: string;
  clientId?: string;
  clientAuth?: ClientAuthMethod;
  scope?: string;
  audience?: string;
  resource?: string;
  timeoutSeconds?: number;
}

export interface RegisterCredentialInput extends GrantInput {
  namespace: string;
  kind: CredentialKind;
  name?: string;
  labels?: Record<string, string>;
  refreshToken?: string;
  clientSecret?: string;
  /** A token the caller already holds; without it the first refresh runs right away. */
  accessToken?: string;
  expiresIn?: number;
  expiresAt?: number;
  tokenType?: string;
  policy?: RefreshPolicyOverrides;
}

export interface UpdateCredentialInput extends GrantInput {
  name?: string;
  labels?: Record<string, string>;
  refreshToken?: string;
  clientSecret?: string;
  policy?: RefreshPolicyOverrides;
}

export interface CredentialServiceOptions {
  policy: RefreshPolicy;
  grantTimeoutMs: number;
  /** How long a deleted credential's history stays readable. */
  revokedRetentionSeconds?: number;
  now?: () => number;
  random?: () => number;
  fetch?: typeof fetch;
}

/** Registering, changing and removing credentials. Every change is an event. */
export class CredentialService {
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(
    private readonly store: CredentialStore,
    private readonly cipher: CredentialCipher,
    private readonly scheduler: RefreshScheduler,
    private readonly options: CredentialServiceOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  async register(input: RegisterCredentialInput): Promise<CredentialProjection> {
    const id = `cred_${randomBytes(16).toString('base64url')}`;
    const grant = await this.grantSettings(input.kind, input, undefined);
    const secrets: CredentialSecrets = {
      ...(input.refreshToken ? { refreshToken: input.refreshToken } : {}),
      ...(input.clientSecret ? { clientSecret: input.clientSecret } : {}),
    };
    checkSecrets(input.kind, grant, secrets);
    const at = this.now();
    const policy = input.policy ?? {};
    const events: NewEvent[] = [
      newEvent('credential.registered', at, {
        namespace: input.namespace,
        kind: input.kind,
        name: input.name ?? id,
        labels: input.labels ?? {},
        grant,
        policy,
      }),
    ];
    let tokenJwe: string | undefined;
    if (input.accessToken) {
      const resolved = resolvePolicy(this.options.policy, policy);
      const expiresAt =
        input.expiresAt ??
        tokenLifetime(
          {
            receivedAt: at,
            ...(input.expiresIn !== undefined ? { expiresInSeconds: input.expiresIn } : {}),
            accessToken: input.accessToken,
          },
          resolved,
        ).expiresAt;
      events.push(
        newEvent('token.updated', at, {
          tokenVersion: 1,
          issuedAt: at,
          expiresAt,
          refreshAt: computeRefreshAt(at, expiresAt, resolved, this.random),
          tokenType: input.tokenType ?? 'Bearer',
          ...(grant.scope ? { scope: grant.scope } : {}),
          refreshTokenRotated: false,
          trigger: 'registration',
          lifetimeSource: 'supplied',
        }),
      );
      tokenJwe = await this.cipher.encryptToken(id, input.accessToken);
    }
    const secretsJwe = await this.cipher.encryptSecrets(id, secrets);
    const { projection } = await this.store.append(id, undefined, events, {
      secrets: secretsJwe,
      ...(tokenJwe ? { token: tokenJwe } : {}),
      index: 'add',
    });
    await this.scheduler.schedule(projection);
    return projection;
  }

  async get(namespace: string, id: string): Promise<CredentialProjection> {
    const p = await this.store.getProjection(id);
    if (!p || p.namespace !== namespace || p.state === 'revoked') throw new CredentialNotFoundError(id);
    return p;
  }

  async update(namespace: string, id: string, input: UpdateCredentialInput): Promise<CredentialProjection> {
    const stored = await this.store.get(id);
    const p = stored?.projection;
    if (!stored || !p || p.namespace !== namespace || p.state === 'revoked')
      throw new CredentialNotFoundError(id);
    const grantChanged = GRANT_FIELDS.some((f) => input[f] !== undefined);
    const grant = grantChanged ? await this.grantSettings(p.kind, input, p.grant) : undefined;
    const secretsChanged = (['refreshToken', 'clientSecret'] as const).filter((f) => input[f] !== undefined);
    let secretsJwe: string | undefined;
    if (secretsChanged.length > 0 || grant) {
      const current = await this.cipher
        .decryptSecrets(id, stored.secrets)
        .catch(() => ({}) as CredentialSecrets);
      const merged: CredentialSecrets = {
        ...current,
        ...(input.refreshToken !== undefined ? { refreshToken: input.refreshToken } : {}),
        ...(input.clientSecret !== undefined ? { clientSecret: input.clientSecret } : {}),
      };
      checkSecrets(p.kind, grant ?? p.grant, merged);
      if (secretsChanged.length > 0) secretsJwe = await this.cipher.encryptSecrets(id, merged);
    }
    const event = newEvent('credential.updated', this.now(), {
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.labels !== undefined ? { labels: input.labels } : {}),
      ...(grant ? { grant } : {}),
      ...(input.policy !== undefined ? { policy: input.policy } : {}),
      secretsChanged: [...secretsChanged],
    });
    const { projection } = await this.store.append(id, p, [event], secretsJwe ? { secrets: secretsJwe } : {});
    if (p.state === 'reauth_required' && projection.state !== 'reauth_required') {
      // New secrets: try them now rather than at the old schedule.
      await this.scheduler.demand(projection, 'manual');
    }
    return projection;
  }

  async revoke(namespace: string, id: string): Promise<void> {
    const p = await this.get(namespace, id);
    await this.store.append(id, p, [newEvent('credential.revoked', this.now(), {})], {
      secrets: null,
      token: null,
      index: 'rem',
    });
    await this.scheduler.cancel(p);
    await this.store.expireCredential(id, this.options.revokedRetentionSeconds ?? 7 * 86_400);
  }

  /** Queues a refresh now (shared with any other pending demand) and returns at once. */
  async requestRefresh(namespace: string, id: string): Promise<{ jobId: string }> {
    const p = await this.get(namespace, id);
    if (p.state === 'reauth_required') {
      throw new InvalidCredentialInputError(
        'refreshToken',
        'the credential needs re-authentication: PATCH it with new secrets first',
      );
    }
    const plan = await this.scheduler.demand(p, 'manual');
    return { jobId: plan.jobId };
  }

  async history(
    namespace: string,
    id: string,
    afterRevision?: number,
    limit?: number,
  ): Promise<StoredEvent[]> {
    const p = await this.store.getProjection(id);
    if (!p || p.namespace !== namespace) throw new CredentialNotFoundError(id);
    return this.store.history(id, {
      ...(afterRevision !== undefined ? { afterRevision } : {}),
      ...(limit ? { limit } : {}),
    });
  }

  private async grantSettings(
    kind: CredentialKind,
    input: GrantInput,
    current: GrantSettings | undefined,
  ): Promise<GrantSettings> {
    const issuer = input.issuer ?? current?.issuer;
    let tokenEndpoint = input.tokenEndpoint ?? (input.issuer ? undefined : current?.tokenEndpoint);
    if (!tokenEndpoint && issuer) {
      try {
        tokenEndpoint = await discoverTokenEndpoint(issuer, this.options.grantTimeoutMs, this.options.fetch);
      } catch (err) {
        throw new InvalidCredentialInputError('issuer', (err as Error).message);
      }
    }
    if (!tokenEndpoint)
      throw new InvalidCredentialInputError('tokenEndpoint', 'give tokenEndpoint, or issuer to discover it');
    const clientAuth =
      input.clientAuth ??
      current?.clientAuth ??
      (input.clientId || current?.clientId ? 'client_secret_basic' : 'none');
    const clientId = input.clientId ?? current?.clientId;
    if (kind === 'oauth2.client_credentials' && !clientId) {
      throw new InvalidCredentialInputError('clientId', 'oauth2.client_credentials needs clientId');
    }
    const pick = <K extends keyof GrantInput>(k: K) => input[k] ?? current?.[k as keyof GrantSettings];
    const scope = pick('scope');
    const audience = pick('audience');
    const resource = pick('resource');
    const timeoutMs = input.timeoutSeconds !== undefined ? input.timeoutSeconds * 1000 : current?.timeoutMs;
    return {
      tokenEndpoint,
      clientAuth,
      ...(issuer ? { issuer } : {}),
      ...(clientId ? { clientId } : {}),
      ...(scope ? { scope: String(scope) } : {}),
      ...(audience ? { audience: String(audience) } : {}),
      ...(resource ? { resource: String(resource) } : {}),
      ...(timeoutMs ? { timeoutMs } : {}),
    };
  }
}

const GRANT_FIELDS = [
  'tokenEndpoint',
  'issuer',
  'clientId',
  'clientAuth',
  'scope',
  'audience',
  'resource',
  'timeoutSeconds',
] as const;

function checkSecrets(kind: CredentialKind, grant: GrantSettings, secrets: CredentialSecrets): void {
  if (kind === 'oauth2.refresh_token' && !secrets.refreshToken) {
    throw new InvalidCredentialInputError('refreshToken', 'oauth2.refresh_token needs refreshToken');
  }
  if (requiresClientSecret(grant.clientAuth) && !secrets.clientSecret) {
    throw new InvalidCredentialInputError(
      'clientSecret',
      `clientAuth ${grant.clientAuth} needs clientSecret`,
    );
  }
  if (kind === 'oauth2.client_credentials' && grant.clientAuth === 'none') {
    throw new InvalidCredentialInputError(
      'clientAuth',
      'oauth2.client_credentials needs a confidential client (client_secret_basic or client_secret_post)',
    );
  }
}
