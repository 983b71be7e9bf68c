import { randomBytes } from 'node:crypto';
import type { FileSourcePolicy } from '#common';
import {
  type CredentialKind,
  type CredentialProjection,
  computeRefreshAt,
  type GrantSettings,
  type NewEvent,
  newEvent,
  type RefreshPolicy,
  type RefreshPolicyOverrides,
  type RotationSettings,
  resolvePolicy,
  tokenLifetime,
} from '#core';
import type { CredentialSecrets } from '#grants';
import type { StoredEvent } from '#store';
import {
  bindSecrets,
  describeDestination,
  movedLeaves,
  type StoredSecrets,
  TokenSourceForbiddenError,
} from './destination-binding.js';
import { CredentialNotFoundError, InvalidCredentialInputError } from './errors.js';
import { buildGrantSettings, checkSecrets, type GrantInput, sourceCredentialId } from './grant-settings.js';
import { KINDS, type KindSet } from './kinds/index.js';
import { checkUpdateFitsKind } from './kinds/update-fields.js';
import type { CredentialSchedulerPort, CredentialStorePort, RefreshCipherPort } from './ports.js';
import { visibleIn } from './visibility.js';

export type { GrantInput } from './grant-settings.js';

/**
 * What a PATCH may change; also everything a registration gives besides its kind and namespace. A
 * kind's own fields, its own secrets among them, come in the same object as the API parsed them.
 */
export interface UpdateCredentialInput extends GrantInput {
  name?: string;
  labels?: Record<string, string>;
  refreshToken?: string;
  clientSecret?: string;
  privateKey?: string;
  /** A token the caller already holds (on update: `static` only, an imported new token). */
  accessToken?: string;
  expiresIn?: number;
  expiresAt?: number;
  tokenType?: string;
  policy?: RefreshPolicyOverrides;
  rotation?: RotationSettings;
  /**
   * Whether the caller may read tokens (`token:read`): needed to name another credential as a
   * token source, or to send a source's token somewhere else.
   */
  canReadTokens?: boolean;
}

/** Without `accessToken` the first refresh runs right away. */
export interface RegisterCredentialInput extends UpdateCredentialInput {
  namespace: string;
  kind: CredentialKind;
}

export interface CredentialServiceOptions {
  policy: RefreshPolicy;
  grantTimeoutMs: number;
  /** How long a deleted credential's history stays readable. */
  revokedRetentionSeconds?: number;
  now?: () => number;
  random?: () => number;
  fetch?: typeof fetch;
  /** Directories `jwtFile` / `subjectTokenFile` may name; without it file sources are refused. */
  fileSources?: FileSourcePolicy;
  /** The kinds credentials may be of: the catalog's (default), or a test's own catalog. */
  kinds?: KindSet;
}

/** Registering, changing and removing credentials. Every change is an event. */
export class CredentialService {
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly kinds: KindSet;

  constructor(
    private readonly store: CredentialStorePort,
    private readonly cipher: RefreshCipherPort,
    private readonly scheduler: CredentialSchedulerPort,
    private readonly options: CredentialServiceOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.kinds = options.kinds ?? KINDS;
  }

  async register(input: RegisterCredentialInput): Promise<CredentialProjection> {
    const id = `cred_${randomBytes(16).toString('base64url')}`;
    const grant = await this.grantSettings(input.kind, input, undefined);
    checkSourceAccess(grant, input, true);
    await this.checkSource(input.namespace, grant);
    const secrets: CredentialSecrets = this.kinds.secretsIn(input);
    await checkSecrets(input.kind, grant, secrets, this.kinds);
    if (this.importsTokens(input.kind)) checkStaticToken(input, this.now());
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
        ...(input.rotation !== undefined ? { rotation: input.rotation } : {}),
      }),
    ];
    let tokenJwe: string | undefined;
    if (input.accessToken) {
      const resolved = resolvePolicy(this.options.policy, policy);
      events.push(this.suppliedToken(at, 1, input, resolved, grant.scope));
      tokenJwe = await this.cipher.encryptToken(id, input.accessToken);
    }
    // Every credential gets a ciphertext, secrets or not: it authenticates where the grant goes.
    const secretsJwe = await this.cipher.encryptSecrets(
      id,
      bindSecrets(secrets, input.kind, grant, this.kinds),
    );
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
    if (!visibleIn(p, namespace)) throw new CredentialNotFoundError(id);
    return p;
  }

  async update(namespace: string, id: string, input: UpdateCredentialInput): Promise<CredentialProjection> {
    const stored = await this.store.get(id);
    const p = stored?.projection;
    if (!stored || !visibleIn(p, namespace)) throw new CredentialNotFoundError(id);
    const { canReadTokens: _caller, ...fields } = input;
    checkUpdateFitsKind(p.kind, this.kinds.find(p.kind), fields as Record<string, unknown>);
    const grantChanged = this.kinds.grantInputFields.some((f) => input[f] !== undefined);
    const grant = grantChanged ? await this.grantSettings(p.kind, input, p.grant) : undefined;
    if (grant) await this.checkSource(namespace, grant, id);
    const given = this.kinds.secretsIn(input);
    const secretsChanged = Object.keys(given);
    const importsToken = input.accessToken !== undefined;
    if (importsToken && !this.importsTokens(p.kind)) {
      throw new InvalidCredentialInputError(
        'accessToken',
        'only static credentials take a new token by PATCH',
      );
    }
    if (!importsToken && (input.expiresIn !== undefined || input.expiresAt !== undefined)) {
      throw new InvalidCredentialInputError('accessToken', 'expiresIn/expiresAt come with a new accessToken');
    }
    let secretsJwe: string | undefined;
    if (secretsChanged.length > 0 || grant) {
      const current = await this.cipher
        .decryptSecrets(id, stored.secrets)
        .catch(() => undefined as StoredSecrets | undefined);
      // Compared with what the secrets were stored for (the projection may have been changed behind
      // the API's back): re-binding them to another destination takes the caller knowing them. A
      // missing or unreadable ciphertext proves nothing, so it counts as a move.
      const boundTo =
        stored.secrets && current
          ? (current.destination ?? describeDestination(p.kind, p.grant, this.kinds))
          : undefined;
      const next = describeDestination(p.kind, grant ?? p.grant, this.kinds);
      const moves = next !== boundTo;
      checkSourceAccess(grant ?? p.grant, input, moves);
      if (moves) {
        requireSecretsAgain(this.kinds, given, input, current ?? {});
        requireRestated(input, boundTo, next);
      }
      const merged: CredentialSecrets = { ...(current ?? {}), ...given };
      // A Vault login made with other settings (address, role, JWT source) is not renewed.
      const dropSession = grant !== undefined && merged.vaultSession !== undefined;
      if (dropSession) delete merged.vaultSession;
      await checkSecrets(p.kind, grant ?? p.grant, merged, this.kinds);
      // A new grant is bound even when no secret changes (kinds without secrets change targets freely).
      secretsJwe = await this.cipher.encryptSecrets(
        id,
        bindSecrets(merged, p.kind, grant ?? p.grant, this.kinds),
      );
    }
    const at = this.now();
    const events: NewEvent[] = [];
    const changesSettings =
      input.name !== undefined ||
      input.labels !== undefined ||
      grant ||
      input.policy !== undefined ||
      input.rotation !== undefined;
    if (changesSettings || secretsChanged.length > 0 || !importsToken) {
      events.push(
        newEvent('credential.updated', at, {
          ...(input.name !== undefined ? { name: input.name } : {}),
          ...(input.labels !== undefined ? { labels: input.labels } : {}),
          ...(grant ? { grant } : {}),
          ...(input.policy !== undefined ? { policy: input.policy } : {}),
          ...(input.rotation !== undefined ? { rotation: input.rotation } : {}),
          secretsChanged,
        }),
      );
    }
    let tokenJwe: string | undefined;
    if (importsToken) {
      checkStaticToken(input, at);
      const resolved = resolvePolicy(this.options.policy, input.policy ?? p.policy);
      events.push(
        this.suppliedToken(at, (p.token?.tokenVersion ?? 0) + 1, input, resolved, (grant ?? p.grant).scope),
      );
      tokenJwe = await this.cipher.encryptToken(id, input.accessToken!);
    }
    const { projection } = await this.store.append(id, p, events, {
      ...(secretsJwe ? { secrets: secretsJwe } : {}),
      ...(tokenJwe ? { token: tokenJwe } : {}),
    });
    if (importsToken) {
      await this.scheduler.schedule(projection);
    } else if (p.state === 'reauth_required' && projection.state !== 'reauth_required') {
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
    if (!visibleIn(p, namespace, { includeRevoked: true })) throw new CredentialNotFoundError(id);
    return this.store.history(id, {
      ...(afterRevision !== undefined ? { afterRevision } : {}),
      ...(limit ? { limit } : {}),
    });
  }

  /** A `token.updated` for a token the caller supplied (registration, or a static token's import). */
  private suppliedToken(
    at: number,
    tokenVersion: number,
    input: { accessToken?: string; expiresIn?: number; expiresAt?: number; tokenType?: string },
    policy: RefreshPolicy,
    scope: string | undefined,
  ): NewEvent {
    const expiresAt =
      input.expiresAt ??
      tokenLifetime(
        {
          receivedAt: at,
          ...(input.expiresIn !== undefined ? { expiresInSeconds: input.expiresIn } : {}),
          ...(input.accessToken ? { accessToken: input.accessToken } : {}),
        },
        policy,
      ).expiresAt;
    return newEvent('token.updated', at, {
      tokenVersion,
      issuedAt: at,
      expiresAt,
      refreshAt: computeRefreshAt(at, expiresAt, policy, this.random),
      tokenType: input.tokenType ?? 'Bearer',
      ...(scope ? { scope } : {}),
      refreshTokenRotated: false,
      trigger: tokenVersion === 1 ? 'registration' : 'manual',
      lifetimeSource: 'supplied',
    });
  }

  private grantSettings(
    kind: CredentialKind,
    input: GrantInput,
    current: GrantSettings | undefined,
  ): Promise<GrantSettings> {
    return buildGrantSettings(
      kind,
      input,
      current,
      {
        grantTimeoutMs: this.options.grantTimeoutMs,
        ...(this.options.fetch ? { fetch: this.options.fetch } : {}),
        ...(this.options.fileSources ? { fileSources: this.options.fileSources } : {}),
      },
      this.kinds,
    );
  }

  /** Kinds without a grant (`static`) track tokens the caller imports. */
  private importsTokens(kind: CredentialKind): boolean {
    return !this.kinds.of(kind).grantClient;
  }

  /** A token source credential must exist in the same namespace (and not be the credential itself). */
  private async checkSource(namespace: string, grant: GrantSettings, selfId?: string): Promise<void> {
    const source = sourceCredentialId(grant);
    if (!source) return;
    if (source.id === selfId) {
      throw new InvalidCredentialInputError(source.field, 'a credential cannot take its token from itself');
    }
    const p = await this.store.getProjection(source.id);
    if (!visibleIn(p, namespace)) {
      throw new InvalidCredentialInputError(source.field, `no credential ${source.id} in this namespace`);
    }
  }
}

/**
 * Naming another credential as a token source, or sending a source's token to another destination,
 * needs a caller that may read tokens: otherwise `credentials:write` would be a way to read them.
 */
function checkSourceAccess(grant: GrantSettings, input: UpdateCredentialInput, moves: boolean): void {
  const source = sourceCredentialId(grant);
  if (!source || input.canReadTokens) return;
  const named = input.subjectCredentialId !== undefined || input.jwtCredentialId !== undefined;
  if (named || moves) throw new TokenSourceForbiddenError(source.field);
}

/**
 * A change of destination must come with every secret the credential holds that would be sent
 * there: the caller proves it knows them, rather than redirecting someone else's.
 */
function requireSecretsAgain(
  kinds: KindSet,
  given: CredentialSecrets,
  input: UpdateCredentialInput,
  current: CredentialSecrets,
): void {
  const missing = kinds.secretFields.filter((f) => current[f] !== undefined && given[f] === undefined);
  if (missing.length === 0) return;
  const changed = kinds.boundInputFields.filter((f) => input[f] !== undefined);
  const why =
    changed.length === 0
      ? 'the stored settings differ from those the secrets were stored for'
      : `${changed.join(', ')} ${changed.length > 1 ? 'change' : 'changes'} where this credential's secrets are sent`;
  throw new InvalidCredentialInputError(missing[0]!, `${why}: supply ${missing.join(' and ')} again`);
}

/** The input fields that set each field of the destination description (see `movedLeaves`). */
const SET_BY: Record<string, readonly (keyof GrantInput)[]> = {
  tokenEndpoint: ['tokenEndpoint', 'issuer'],
  issuer: ['issuer'],
  clientAuth: ['clientAuth'],
  clientId: ['clientId'],
  clientAssertionAlg: ['signingAlg', 'clientAuth'],
  audience: ['audience'],
  resource: ['resource'],
  'mint.issuer': ['issuer'],
  'mint.subject': ['subject'],
  'mint.audience': ['audience'],
  'mint.claims': ['claims'],
  'mint.ttlSeconds': ['ttlSeconds'],
  'mint.alg': ['signingAlg'],
  'mint.kid': ['kid'],
  'assertion.issuer': ['assertionIssuer'],
  'assertion.subject': ['subject'],
  'assertion.audience': ['assertionAudience'],
  'assertion.claims': ['claims'],
  'assertion.ttlSeconds': ['ttlSeconds'],
  'assertion.alg': ['signingAlg'],
  'assertion.kid': ['kid'],
  tokenExchangeSubject: ['subjectCredentialId', 'subjectTokenFile'],
  'vault.address': ['vaultAddr'],
  'vault.mount': ['mount'],
  'vault.role': ['role'],
  'vault.namespace': ['vaultNamespace'],
  'vault.jwt': ['jwtFile', 'jwtCredentialId'],
};

/** The input fields that set a description field; a kind's own setting (`params.<field>`) is its field's. */
function setBy(leaf: string): readonly (keyof GrantInput)[] {
  if (leaf.startsWith('params.')) return [leaf.slice('params.'.length) as keyof GrantInput];
  return SET_BY[leaf] ?? [];
}

/**
 * Every way a PATCH moves the credential away from what its secrets were stored for must be
 * something the request itself says. A target changed behind the API's back (in Redis) is not
 * bound by the owner's next unrelated change, secrets or not: the request must restate it.
 */
function requireRestated(input: UpdateCredentialInput, bound: string | undefined, next: string): void {
  const unstated = movedLeaves(bound, next).filter(
    (leaf) => !setBy(leaf).some((f) => input[f] !== undefined),
  );
  if (unstated.length === 0) return;
  const fields = [...new Set(unstated.map((leaf) => setBy(leaf)[0] ?? leaf))];
  throw new InvalidCredentialInputError(
    fields[0]!,
    `the stored settings (${fields.join(', ')}) differ from those this credential's secrets were stored for and this request does not set them: check them, then give them in the request`,
  );
}

/** A static token must come with an expiry that is still ahead: it can never be refreshed. */
function checkStaticToken(
  input: { accessToken?: string; expiresIn?: number; expiresAt?: number },
  now: number,
): void {
  if (!input.accessToken) {
    throw new InvalidCredentialInputError('accessToken', 'static credentials need the accessToken to track');
  }
  if (input.expiresIn === undefined && input.expiresAt === undefined) {
    throw new InvalidCredentialInputError('expiresIn', 'static tokens need expiresIn or expiresAt');
  }
  if (input.expiresAt !== undefined && input.expiresAt <= now) {
    throw new InvalidCredentialInputError('expiresAt', 'the token has already expired');
  }
}
