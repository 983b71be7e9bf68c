import type { CredentialProjection, RefreshTrigger } from '#core';
import type { StoredCredential } from '#store';
import type { CredentialCipher } from './credential-secrets.js';
import { CredentialNotFoundError, TokenUnavailableError } from './errors.js';
import { resolveRotation } from './kinds/index.js';
import { type Clock, clockOf, type DemandSchedulerPort, type TokenStorePort } from './ports.js';
import { cappedRunwayMs, type ReadRefreshGate } from './read-refresh-gate.js';
import { visibleIn } from './visibility.js';

export interface ServedToken {
  accessToken: string;
  tokenType: string;
  tokenVersion: number;
  expiresAt: number;
  scope?: string;
  /** Set when a refresh was wanted but failed and a still-valid cached token is served instead. */
  warning?: string;
}

export interface TokenServiceOptions {
  /** How long a reader waits for a refresh it triggered or joined. */
  waitMs: number;
  pollMs?: number;
  /** Time and the waits between polls (default: the system clock with `now` replaced). */
  clock?: Clock;
  now?: () => number;
  /**
   * How many credentials' decrypted access tokens this process keeps (0: none). An entry is
   * keyed by credential and holds the ciphertext it was decrypted from: every refresh (and every
   * re-encryption) writes a new ciphertext, so a changed token can never be served from it.
   */
  tokenCacheSize?: number;
  /** The fallback after a failed refresh serves a cached token only with this much lifetime left (default 5 s). */
  fallbackMinTtlMs?: number;
  /**
   * Limits refreshes reads trigger while the cached token is still valid (absent: no limit);
   * a read turned away gets the cached token with a warning.
   */
  readRefreshGate?: ReadRefreshGate;
  /** Share of a token's lifetime a read's `minTtl` may demand (default 0.5). */
  minTtlMaxFraction?: number;
}

/** Decrypted access tokens by credential id, each with the ciphertext it came from; LRU-bounded. */
class DecryptedTokenCache {
  private readonly entries = new Map<string, { jwe: string; accessToken: string }>();
  constructor(private readonly max: number) {}

  get(id: string, jwe: string): string | undefined {
    const hit = this.entries.get(id);
    if (!hit) return undefined;
    if (hit.jwe !== jwe) {
      this.entries.delete(id);
      return undefined;
    }
    // Most recently used last.
    this.entries.delete(id);
    this.entries.set(id, hit);
    return hit.accessToken;
  }

  set(id: string, jwe: string, accessToken: string): void {
    if (this.max <= 0) return;
    this.entries.delete(id);
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(id, { jwe, accessToken });
  }
}

/**
 * Serves access tokens: the cached one when it has the runway the caller asks for, otherwise a
 * refresh is demanded (one per credential and token version, whoever asks) and awaited. An
 * expired token is never served.
 */
export class TokenService {
  private readonly clock: Clock;
  private readonly decrypted: DecryptedTokenCache;

  constructor(
    private readonly store: TokenStorePort,
    private readonly cipher: Pick<CredentialCipher, 'decryptToken'>,
    private readonly scheduler: DemandSchedulerPort,
    private readonly options: TokenServiceOptions,
  ) {
    this.clock = clockOf(options);
    this.decrypted = new DecryptedTokenCache(options.tokenCacheSize ?? 10_000);
  }

  private now(): number {
    return this.clock.now();
  }

  async getToken(namespace: string, id: string, minTtlSeconds: number): Promise<ServedToken> {
    const stored = await this.load(namespace, id);
    refuseRevokedGrant(stored.projection);
    const token = stored.projection.token;
    if (
      token &&
      token.expiresAt - this.now() >= cappedRunwayMs(minTtlSeconds, token, this.options.minTtlMaxFraction)
    )
      return this.serve(stored);
    const throttled = await this.readRefreshThrottled(stored);
    if (throttled) return throttled;
    return this.refreshAndServe(stored, 'on_demand');
  }

  /**
   * A read wants more runway than the valid cached token has: only the first such read per
   * credential and interval refreshes; the others get the cached token with a warning.
   */
  private async readRefreshThrottled(stored: StoredCredential): Promise<ServedToken | undefined> {
    const { token, id } = stored.projection;
    const gate = this.options.readRefreshGate;
    const now = this.now();
    // A token that is due for its refresh, or too close to expiry to hand out (the fallback's minimum,
    // at most a quarter of a short token's lifetime), is refreshed whatever the gate says: only reads
    // of a token with life to spare are throttled.
    const spare = Math.min(
      this.options.fallbackMinTtlMs ?? 5_000,
      (token ? token.expiresAt - token.issuedAt : 0) / 4,
    );
    if (
      !gate ||
      !token ||
      now >= token.refreshAt ||
      token.expiresAt - now < spare ||
      (await gate.tryAcquire(id, token.tokenVersion))
    )
      return undefined;
    const served = await this.serve(stored);
    const left = Math.floor((token.expiresAt - this.now()) / 1000);
    return {
      ...served,
      warning: `a read refreshed this credential recently; serving the cached token, ${left} s left`,
    };
  }

  /**
   * A consumer was refused with token version `version`. Only the first report for the current
   * version triggers a refresh; every caller gets the token that replaced it.
   */
  async invalidate(namespace: string, id: string, version: number): Promise<ServedToken> {
    const stored = await this.load(namespace, id);
    refuseRevokedGrant(stored.projection);
    const current = stored.projection.token?.tokenVersion ?? 0;
    if (version < current) return this.serve(stored);
    return this.refreshAndServe(stored, 'invalidated');
  }

  private async refreshAndServe(stored: StoredCredential, trigger: RefreshTrigger): Promise<ServedToken> {
    const p = stored.projection;
    if (p.state === 'reauth_required')
      return this.fallback(stored, 'auth', p.lastFailure?.message ?? 'credential needs re-authentication');
    const startVersion = p.token?.tokenVersion ?? 0;
    const startFailures = p.failures;
    await this.scheduler.demand(p, trigger);
    const deadline = this.now() + this.options.waitMs;
    const pollMs = this.options.pollMs ?? 25;
    let latest = p;
    while (this.now() < deadline) {
      await this.clock.sleep(pollMs);
      const next = await this.store.getProjection(p.id);
      if (!next || next.state === 'revoked') throw new CredentialNotFoundError(p.id);
      latest = next;
      const version = next.token?.tokenVersion ?? 0;
      // A fresh token is served even if its whole lifetime is shorter than the runway asked for.
      if (version > startVersion) return this.serve(await this.reload(p.id));
      if (next.failures > startFailures || next.state === 'reauth_required') {
        const reason = next.lastFailure?.class === 'permanent' ? 'auth' : 'network';
        return this.fallback(await this.reload(p.id), reason, next.lastFailure?.message ?? 'refresh failed');
      }
    }
    return this.fallback(
      await this.reload(latest.id),
      'timeout',
      `no refresh completed within ${this.options.waitMs} ms`,
    );
  }

  /** Serves the cached token with a warning if it is still valid; otherwise explains why there is none. */
  private async fallback(
    stored: StoredCredential,
    reason: TokenUnavailableError['reason'],
    why: string,
  ): Promise<ServedToken> {
    const p = stored.projection;
    refuseRevokedGrant(p);
    const leftMs = p.token ? p.token.expiresAt - this.now() : 0;
    if (p.token && leftMs > 0 && leftMs >= (this.options.fallbackMinTtlMs ?? 5_000)) {
      const served = await this.serve(stored);
      const code = p.lastFailure?.code ?? reason.toUpperCase();
      return {
        ...served,
        warning: `refresh failed (${code}); serving the cached token, ${Math.floor(leftMs / 1000)} s left`,
      };
    }
    if (p.state === 'pending' && reason === 'timeout') {
      throw new TokenUnavailableError('pending', `the credential has no token yet: ${why}`, 1);
    }
    const retry = p.lastFailure?.nextAttemptAt
      ? Math.max(1, Math.ceil((p.lastFailure.nextAttemptAt - this.now()) / 1000))
      : undefined;
    throw new TokenUnavailableError(reason, `no valid token: ${why}`, retry);
  }

  private async serve(stored: StoredCredential): Promise<ServedToken> {
    const token = stored.projection.token;
    if (!stored.token || !token || token.expiresAt <= this.now()) {
      throw new TokenUnavailableError('network', 'the token expired before it could be served');
    }
    const id = stored.projection.id;
    let accessToken = this.decrypted.get(id, stored.token);
    if (accessToken === undefined) {
      accessToken = await this.cipher.decryptToken(id, stored.token);
      this.decrypted.set(id, stored.token, accessToken);
    }
    return {
      accessToken,
      tokenType: token.tokenType,
      tokenVersion: token.tokenVersion,
      expiresAt: token.expiresAt,
      ...(token.scope ? { scope: token.scope } : {}),
    };
  }

  private async load(namespace: string, id: string): Promise<StoredCredential> {
    const stored = await this.store.get(id);
    if (!stored || !visibleIn(stored.projection, namespace)) throw new CredentialNotFoundError(id);
    return stored;
  }

  private async reload(id: string): Promise<StoredCredential> {
    const stored = await this.store.get(id);
    if (!stored || stored.projection.state === 'revoked') throw new CredentialNotFoundError(id);
    return stored;
  }
}

/**
 * After a rotating credential's refresh token was refused (or lost), the provider has revoked the
 * grant, and with it the access token still cached here: serving it would hand out a dead token.
 */
function refuseRevokedGrant(p: CredentialProjection): void {
  if (p.state !== 'reauth_required' || !p.lastFailure) return;
  const { code, message } = p.lastFailure;
  const revoked =
    code === 'REFRESH_TOKEN_LOST' ||
    ((code === 'INVALID_GRANT' || code === 'TOKEN_REVOKED') &&
      resolveRotation(p.kind, p.rotation).mode !== 'none');
  if (revoked)
    throw new TokenUnavailableError('auth', `no valid token: the grant was revoked (${code}): ${message}`);
}
