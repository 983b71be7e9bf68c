import type { GrantFailure, VaultLoginSettings } from '#core';
import { parseRetryAfter } from '#core';
import {
  GrantConfigurationError,
  GrantError,
  type GrantRequest,
  type GrantResult,
  grantDeadlineMs,
  type VaultSession,
} from './grant-client.js';
import { exchangeFacts, type GrantExchange, limitedFetch, ResponseTooLargeError } from './limited-fetch.js';
import { OutboundGrantClient, type OutboundGrantClientOptions } from './outbound-grant-client.js';
import { outboundRefusal } from './outbound-refusal.js';
import { readSourceToken } from './token-source.js';

export type VaultGrantClientOptions = OutboundGrantClientOptions;

interface VaultAuth {
  client_token: string;
  lease_duration: number;
  renewable: boolean;
}

/** Vault answered with an HTTP error; `errors` is Vault's own list of messages. */
class VaultHttpError extends Error {
  constructor(
    readonly status: number,
    readonly errors: string[],
    readonly retryAfterMs?: number,
  ) {
    super(`vault answered ${status}${errors.length ? `: ${errors.join('; ')}` : ''}`);
  }
}

/**
 * `vault.jwt_login`: logs in at `POST {address}/v1/auth/{mount}/login {role, jwt}` and, on later
 * refreshes, extends the same token with `POST /v1/auth/token/renew-self` while it is renewable
 * and a full lease still fits before its max TTL; otherwise (or when Vault refuses the renewal)
 * it logs in again with a freshly read JWT. The Vault token is the credential's access token;
 * the session (token, login time, max expiry) travels with the encrypted secrets.
 */
export class VaultGrantClient extends OutboundGrantClient {
  async execute(request: GrantRequest): Promise<GrantResult> {
    const settings = request.grant.vault;
    if (!settings) throw new GrantConfigurationError('vault.jwt_login credential has no vault settings');
    const session = request.secrets.vaultSession;
    if (session && this.shouldRenew(session)) {
      const exchange: GrantExchange = {};
      try {
        return await this.renew(settings, session, request, exchange);
      } catch (err) {
        // A token Vault no longer accepts (revoked, expired, past max TTL) is replaced by a new login;
        // an unreachable Vault fails the same way for both, so report it without trying twice.
        if (!(err instanceof VaultHttpError) || (err.status !== 400 && err.status !== 403)) {
          throw new GrantError(vaultFailure(err, 'renew', false, this.now(), exchange));
        }
      }
    }
    return this.login(settings, request);
  }

  /** Renew only while a whole lease still fits before the max TTL: a capped renewal buys a sliver. */
  private shouldRenew(session: VaultSession): boolean {
    if (!session.renewable) return false;
    if (session.maxExpiresAt === undefined) return true;
    return session.maxExpiresAt - this.now() > session.leaseSeconds * 1000;
  }

  private async login(settings: VaultLoginSettings, request: GrantRequest): Promise<GrantResult> {
    const jwt = await readSourceToken(settings.jwt, request, this.options);
    const path = `/v1/auth/${settings.mount.split('/').map(encodeURIComponent).join('/')}/login`;
    let auth: VaultAuth;
    const exchange: GrantExchange = {};
    try {
      auth = await this.call(settings, path, { role: settings.role, jwt }, request, exchange);
    } catch (err) {
      throw new GrantError(vaultFailure(err, 'login', 'file' in settings.jwt, this.now(), exchange));
    }
    const receivedAt = this.now();
    const maxExpiresAt =
      settings.maxTtlSeconds !== undefined ? receivedAt + settings.maxTtlSeconds * 1000 : undefined;
    const session: VaultSession = {
      clientToken: auth.client_token,
      loginAt: receivedAt,
      renewable: auth.renewable,
      leaseSeconds: auth.lease_duration,
      ...(maxExpiresAt !== undefined ? { maxExpiresAt } : {}),
    };
    return this.result(session, auth.lease_duration, receivedAt, exchange);
  }

  private async renew(
    settings: VaultLoginSettings,
    session: VaultSession,
    request: GrantRequest,
    exchange: GrantExchange,
  ): Promise<GrantResult> {
    const auth = await this.call(
      settings,
      '/v1/auth/token/renew-self',
      { increment: `${session.leaseSeconds}s` },
      request,
      exchange,
      session.clientToken,
    );
    const receivedAt = this.now();
    // Vault caps a renewal at the token's max TTL and says so only by granting less than asked.
    const capped = auth.lease_duration < session.leaseSeconds;
    const vaultMax = capped ? receivedAt + auth.lease_duration * 1000 : undefined;
    const maxExpiresAt =
      vaultMax !== undefined && session.maxExpiresAt !== undefined
        ? Math.min(vaultMax, session.maxExpiresAt)
        : (vaultMax ?? session.maxExpiresAt);
    const next: VaultSession = {
      ...session,
      clientToken: auth.client_token || session.clientToken,
      renewable: auth.renewable,
      ...(maxExpiresAt !== undefined ? { maxExpiresAt } : {}),
    };
    return this.result(next, auth.lease_duration, receivedAt, exchange);
  }

  private result(
    session: VaultSession,
    leaseSeconds: number,
    receivedAt: number,
    exchange: GrantExchange,
  ): GrantResult {
    const untilMax =
      session.maxExpiresAt !== undefined ? Math.floor((session.maxExpiresAt - receivedAt) / 1000) : undefined;
    const expiresInSeconds = untilMax !== undefined ? Math.min(leaseSeconds, untilMax) : leaseSeconds;
    return {
      accessToken: session.clientToken,
      tokenType: 'Vault',
      receivedAt,
      sentAt: Math.min(exchange.startedAt ?? receivedAt, receivedAt),
      ...(expiresInSeconds > 0 ? { expiresInSeconds } : {}),
      secretsPatch: { vaultSession: session },
    };
  }

  private async call(
    settings: VaultLoginSettings,
    path: string,
    body: Record<string, string>,
    request: GrantRequest,
    exchange: GrantExchange,
    token?: string,
  ): Promise<VaultAuth> {
    const url = new URL(path, settings.address.endsWith('/') ? settings.address : `${settings.address}/`);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json',
    };
    if (token) headers['x-vault-token'] = token;
    if (settings.vaultNamespace) headers['x-vault-namespace'] = settings.vaultNamespace;
    const res = await limitedFetch(this.fetchImpl, {
      timeoutMs: request.timeoutMs,
      deadlineMs: grantDeadlineMs(request),
      exchange,
      now: this.now,
    })(url.href, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const errors = (json as { errors?: unknown })?.errors;
      throw new VaultHttpError(
        res.status,
        Array.isArray(errors) ? errors.map((e) => String(e).slice(0, 300)) : [],
        parseRetryAfter(res.headers.get('retry-after'), this.now()),
      );
    }
    const auth = (json as { auth?: Partial<VaultAuth> } | undefined)?.auth;
    if (
      !auth ||
      typeof auth.client_token !== 'string' ||
      !auth.client_token ||
      typeof auth.lease_duration !== 'number'
    ) {
      throw new InvalidVaultResponseError('vault answered without auth.client_token and auth.lease_duration');
    }
    return {
      client_token: auth.client_token,
      lease_duration: auth.lease_duration,
      renewable: auth.renewable === true,
    };
  }
}

class InvalidVaultResponseError extends Error {}

const ROLE_MISSING = /role .*(could not be found|not found|does not exist)/i;

/**
 * Vault errors in tokenkeeper's terms. A refused login is transient by default: the JWT comes
 * from a source that rotates (spiffe-helper rewrites its file, another credential refreshes),
 * so the next attempt presents a different JWT. Only what no new JWT can fix is permanent: a
 * role that does not exist. Transport failures say whether the request was sent, like the
 * OAuth grants' (`exchange`: what the call got to); a 502/504 without Vault's own error list is
 * a gateway's answer, the request may have been processed behind it.
 */
export function vaultFailure(
  err: unknown,
  step: 'login' | 'renew',
  fileSource = false,
  now: number = Date.now(),
  exchange?: GrantExchange,
): GrantFailure {
  const refused = outboundRefusal(err);
  if (refused) return refused;
  if (err instanceof VaultHttpError) {
    const detail = err.errors.join('; ') || `status ${err.status}`;
    const retry = err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {};
    if ((err.status === 502 || err.status === 504) && err.errors.length === 0) {
      return { type: 'http_status', status: err.status, sent: true, ...retry };
    }
    if (err.status === 429 || err.status >= 500) {
      return {
        type: 'classified',
        class: 'transient',
        code: err.status === 429 ? 'RATE_LIMITED' : 'PROVIDER_UNAVAILABLE',
        message: `vault ${step} failed (${err.status}): ${detail}`,
        status: err.status,
        ...retry,
      };
    }
    if (step === 'login' && err.status === 400 && ROLE_MISSING.test(detail)) {
      return {
        type: 'classified',
        class: 'permanent',
        code: 'VAULT_ROLE_NOT_FOUND',
        message: `vault login refused: ${detail}`,
        status: err.status,
      };
    }
    return {
      type: 'classified',
      class: 'transient',
      code: step === 'login' ? 'VAULT_LOGIN_REFUSED' : 'VAULT_RENEW_REFUSED',
      message: `vault ${step} refused (${err.status})${fileSource ? ' with the JWT from its file' : ''}: ${detail}`,
      status: err.status,
    };
  }
  const { afterMs, status, sent } = exchangeFacts(err, exchange, now);
  const sentField = sent !== undefined ? { sent } : {};
  const answered = { ...(status !== undefined ? { status } : {}), ...sentField };
  if (err instanceof ResponseTooLargeError || (err as Error)?.cause instanceof ResponseTooLargeError) {
    return { type: 'invalid_response', message: (err as Error).message, ...answered };
  }
  if (err instanceof InvalidVaultResponseError) {
    return { type: 'invalid_response', message: err.message, ...answered };
  }
  const name = (err as { name?: string })?.name;
  if (name === 'TimeoutError' || name === 'AbortError') {
    return { type: 'timeout', ...sentField, ...(afterMs !== undefined ? { afterMs } : {}) };
  }
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  return {
    type: 'network',
    message: cause?.message ?? (err as Error)?.message ?? String(err),
    ...(cause?.code ? { code: cause.code } : {}),
    ...sentField,
  };
}
