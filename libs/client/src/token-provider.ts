import { type ReceivedToken, TokenkeeperApiClient } from './api-client.js';
import {
  ClientClosedError,
  TokenkeeperApiError,
  TokenkeeperClientError,
  TokenUnavailableError,
} from './errors.js';
import { EventSubscription, type SubscribeOptions, type TokenkeeperEvent } from './event-subscription.js';

export interface TokenProviderOptions {
  /** Where tokenkeeper's API listens, e.g. `https://tokenkeeper.internal:8080`. */
  baseUrl: string;
  /** A tokenkeeper API key (`tk_...`) with the `token:read` scope (and `events:read` for `subscribe`). */
  apiKey?: string;
  credentialId: string;
  /** Seconds of validity a token must still have when `getToken()` hands it out (default 60). */
  minTtl?: number;
  /** The `fetch` used for tokenkeeper and by `authFetch` (default: the global one). */
  fetch?: typeof fetch;
  /** Clock in epoch milliseconds (default `Date.now`); tests freeze it. */
  now?: () => number;
  /** Called when a token is served despite a problem (default: `console.warn`). */
  onWarning?: (warning: TokenWarning) => void;
  /** Bound on each call to tokenkeeper (default 30000 ms; the service itself waits at most a few seconds). */
  requestTimeoutMs?: number;
}

export interface TokenInfo {
  accessToken: string;
  /** Authorization scheme, normally `Bearer`. */
  tokenType: string;
  /** Increases with every new token of the credential; report it to `invalidate()` after a 401. */
  tokenVersion: number;
  /** On this process's clock. */
  expiresAt: Date;
  /** Whole seconds left. */
  expiresIn: number;
  scope?: string;
  /** Set when this token was served as a fallback (refresh failed or tokenkeeper unreachable). */
  warning?: string;
}

export type TokenWarningCode =
  /** tokenkeeper could not be asked; the cached, still valid token was served. */
  | 'SERVED_FROM_CACHE'
  /** tokenkeeper served a token it could not refresh (its `tokenkeeper-warning`). */
  | 'SERVICE_WARNING'
  /** A 401 could not be followed by a new token; `authFetch` returned the 401. */
  | 'INVALIDATE_FAILED'
  /** An event subscription failed (and keeps reconnecting) and no `onError` was given. */
  | 'SUBSCRIPTION_ERROR';

export interface TokenWarning {
  code: TokenWarningCode;
  credentialId: string;
  message: string;
  tokenVersion?: number;
  /** Seconds the served token has left. */
  expiresIn?: number;
  cause?: unknown;
}

export interface GetTokenOptions {
  /** Overrides the provider's `minTtl` for this call. */
  minTtl?: number;
}

export interface TokenProvider {
  /** A valid access token with at least `minTtl` seconds left when possible; never an expired one. */
  getToken(options?: GetTokenOptions): Promise<string>;
  /** The same, with the token's version, type and expiry. */
  getTokenInfo(options?: GetTokenOptions): Promise<TokenInfo>;
  /** Token `version` was refused upstream: asks tokenkeeper for the token that replaced it. */
  invalidate(version: number): Promise<TokenInfo>;
  /** `fetch` with `Authorization: <type> <token>`; on a 401 invalidates that token and retries once. */
  authFetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /** Follows this credential's events; returns the function that ends the subscription. */
  subscribe(
    handler: (event: TokenkeeperEvent) => void | Promise<void>,
    options?: SubscribeOptions,
  ): () => Promise<void>;
  /** Ends every subscription and in-flight call; later calls throw `ClientClosedError`. */
  close(): Promise<void>;
}

/** A token is not handed out in its last second: it would expire on its way to the upstream. */
const EXPIRY_MARGIN_MS = 1000;
/** While tokenkeeper is unreachable and the cache is valid, it is asked again at most this often (doubling). */
const FAILURE_COOLDOWN_MS = { initial: 1000, max: 10_000 };

interface CachedToken extends ReceivedToken {
  /** A newer version exists (event or invalidation): ask tokenkeeper before serving this one again. */
  superseded: boolean;
}

/**
 * Creates the in-process token source for one tokenkeeper credential.
 *
 * `getToken()` serves the cached token while it has at least `minTtl` left; otherwise it asks
 * tokenkeeper with that `minTtl` (tokenkeeper refreshes and waits when needed), and concurrent
 * callers share the one request. When tokenkeeper is unreachable or answers 5xx, the cached token
 * is served with a warning while it is valid; once it has expired (or none exists) the call throws
 * a `TokenUnavailableError`.
 */
export function createTokenProvider(options: TokenProviderOptions): TokenProvider {
  const { baseUrl, credentialId } = options;
  if (typeof baseUrl !== 'string' || !/^https?:\/\//i.test(baseUrl))
    throw new TypeError('createTokenProvider: baseUrl must be an http(s) URL');
  if (typeof credentialId !== 'string' || credentialId === '')
    throw new TypeError('createTokenProvider: credentialId is required');
  const minTtl = options.minTtl ?? 60;
  checkMinTtl(minTtl);
  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== 'function')
    throw new TypeError('createTokenProvider: no fetch available; pass one');
  const now = options.now ?? Date.now;
  const onWarning = options.onWarning ?? ((w: TokenWarning) => console.warn(`[tokenkeeper] ${w.message}`));
  const closed = new AbortController();
  const api = new TokenkeeperApiClient({
    baseUrl,
    apiKey: options.apiKey,
    fetch: (input, init) => fetchImpl(input, init),
    now,
    timeoutMs: options.requestTimeoutMs ?? 30_000,
  });

  let cache: CachedToken | undefined;
  let inFlight: Promise<TokenInfo> | undefined;
  const invalidations = new Map<number, Promise<TokenInfo>>();
  let failures = 0;
  let quietUntil = 0;
  let lastFailure: TokenUnavailableError | undefined;
  const subscriptions = new Set<EventSubscription>();

  const warn = (w: Omit<TokenWarning, 'credentialId'>) => {
    try {
      onWarning({ credentialId, ...w });
    } catch {
      // A throwing warning callback must not turn a served token into a failure.
    }
  };
  const ensureOpen = () => {
    if (closed.signal.aborted) throw new ClientClosedError();
  };
  const usable = (t: CachedToken | undefined, at: number): boolean =>
    t !== undefined && t.expiresAtMs - at > EXPIRY_MARGIN_MS;
  const view = (t: CachedToken, at: number, warning?: string): TokenInfo => ({
    accessToken: t.accessToken,
    tokenType: t.tokenType,
    tokenVersion: t.tokenVersion,
    expiresAt: new Date(t.expiresAtMs),
    expiresIn: Math.max(0, Math.floor((t.expiresAtMs - at) / 1000)),
    ...(t.scope ? { scope: t.scope } : {}),
    ...((warning ?? t.warning) ? { warning: warning ?? t.warning } : {}),
  });
  /**
   * Runway below which the cache is not enough. A token whose whole remaining life was shorter than
   * `minTtl` when it arrived (short-lived tokens) is kept until half of that is used: asking again
   * at once would make every call a refresh.
   */
  const fresh = (t: CachedToken, at: number, minTtlMs: number) => {
    const threshold = t.runwayAtReceiptMs >= minTtlMs ? minTtlMs : t.runwayAtReceiptMs / 2;
    return !t.superseded && !t.warning && t.expiresAtMs - at >= Math.max(threshold, EXPIRY_MARGIN_MS);
  };
  const remember = (t: ReceivedToken): CachedToken => {
    // Two answers can cross (getToken and invalidate): never go back to an older version.
    if (!cache || t.tokenVersion >= cache.tokenVersion) cache = { ...t, superseded: false };
    if (t.warning)
      warn({
        code: 'SERVICE_WARNING',
        message: `credential ${credentialId}: ${t.warning}`,
        tokenVersion: t.tokenVersion,
      });
    return cache;
  };

  /** The cache, served with a warning, if tokenkeeper cannot help right now; otherwise `err`. */
  const fallback = (err: TokenUnavailableError): TokenInfo => {
    const at = now();
    const c = cache;
    if (!c) throw err;
    if (!usable(c, at)) {
      throw new TokenUnavailableError(
        err.reason,
        `${err.message}; the cached token (version ${c.tokenVersion}) expired at ${new Date(c.expiresAtMs).toISOString()}`,
        err.retryAfterSeconds,
        { cause: err },
      );
    }
    const left = Math.floor((c.expiresAtMs - at) / 1000);
    const message = `credential ${credentialId}: serving the cached token (version ${c.tokenVersion}, ${left} s left): ${err.message}`;
    warn({ code: 'SERVED_FROM_CACHE', message, tokenVersion: c.tokenVersion, expiresIn: left, cause: err });
    return view(c, at, message);
  };

  const ask = async (minTtlSeconds: number): Promise<TokenInfo> => {
    try {
      // One second more than needed: `expiresIn` comes rounded down, and without the margin a token
      // the service still finds long enough would look too short here and be asked for again.
      const t = remember(
        await api.credentialToken(credentialId, Math.ceil(minTtlSeconds) + 1, {
          signal: closed.signal,
        }),
      );
      failures = 0;
      quietUntil = 0;
      lastFailure = undefined;
      return view(t, now());
    } catch (err) {
      if (closed.signal.aborted) throw new ClientClosedError();
      if (err instanceof TokenkeeperApiError && err.status === 404) cache = undefined;
      if (!(err instanceof TokenUnavailableError)) throw err;
      failures += 1;
      lastFailure = err;
      const backoff = Math.min(FAILURE_COOLDOWN_MS.max, FAILURE_COOLDOWN_MS.initial * 2 ** (failures - 1));
      quietUntil = now() + Math.max(backoff, (err.retryAfterSeconds ?? 0) * 1000);
      return fallback(err);
    }
  };

  const getTokenInfo = async (opts: GetTokenOptions = {}): Promise<TokenInfo> => {
    ensureOpen();
    const wanted = opts.minTtl ?? minTtl;
    checkMinTtl(wanted);
    const at = now();
    if (cache && fresh(cache, at, wanted * 1000)) return view(cache, at);
    // Right after a failure, a valid cache is served without asking again on every call.
    if (lastFailure && at < quietUntil && usable(cache, at) && !inFlight) return fallback(lastFailure);
    // Single flight: every caller that finds the cache short shares one request.
    if (!inFlight) {
      inFlight = ask(wanted).finally(() => {
        inFlight = undefined;
      });
    }
    return inFlight;
  };

  const invalidate = (version: number): Promise<TokenInfo> => {
    ensureOpen();
    if (!Number.isInteger(version) || version < 0)
      throw new TypeError('invalidate: version must be a non-negative integer');
    const at = now();
    // Someone already replaced that version.
    if (cache && cache.tokenVersion > version && !cache.superseded && usable(cache, at))
      return Promise.resolve(view(cache, at));
    if (cache && cache.tokenVersion <= version) cache.superseded = true;
    let pending = invalidations.get(version);
    if (!pending) {
      pending = api
        .invalidateToken(credentialId, version, { signal: closed.signal })
        .then((t) => view(remember(t), now()))
        .finally(() => invalidations.delete(version));
      invalidations.set(version, pending);
    }
    return pending;
  };

  const authFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const token = await getTokenInfo();
    // A stream body is consumed by the first attempt, so such a request cannot be sent twice.
    const replayable =
      !(init?.body instanceof ReadableStream) && !(input instanceof Request && input.bodyUsed);
    const send = (t: TokenInfo) => {
      const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
      headers.set('authorization', `${t.tokenType} ${t.accessToken}`);
      return fetchImpl(input instanceof Request && replayable ? input.clone() : input, { ...init, headers });
    };
    const first = await send(token);
    if (first.status !== 401 || !replayable) return first;
    let next: TokenInfo;
    try {
      next = await invalidate(token.tokenVersion);
    } catch (err) {
      warn({
        code: 'INVALIDATE_FAILED',
        message: `credential ${credentialId}: token version ${token.tokenVersion} was refused (401) and no replacement could be obtained: ${err instanceof Error ? err.message : 'unknown error'}`,
        tokenVersion: token.tokenVersion,
        cause: err,
      });
      return first;
    }
    if (next.tokenVersion <= token.tokenVersion) {
      warn({
        code: 'INVALIDATE_FAILED',
        message: `credential ${credentialId}: token version ${token.tokenVersion} was refused (401) and tokenkeeper has no newer one yet`,
        tokenVersion: token.tokenVersion,
      });
      return first;
    }
    await first.body?.cancel().catch(() => undefined);
    return send(next);
  };

  const subscribe = (
    handler: (event: TokenkeeperEvent) => void | Promise<void>,
    subOptions?: SubscribeOptions,
  ): (() => Promise<void>) => {
    ensureOpen();
    if (typeof handler !== 'function') throw new TypeError('subscribe: handler must be a function');
    const sub = new EventSubscription(
      {
        api,
        credentialId,
        observe: (event) => {
          if (event.type !== 'token.updated' || !cache) return;
          const version = event.data.tokenVersion;
          if (typeof version !== 'number' || version > cache.tokenVersion) cache.superseded = true;
        },
        warn: (error: TokenkeeperClientError) =>
          warn({
            code: 'SUBSCRIPTION_ERROR',
            message: `credential ${credentialId}: ${error.message}`,
            cause: error,
          }),
      },
      handler,
      subOptions,
    );
    subscriptions.add(sub);
    return () => {
      subscriptions.delete(sub);
      return sub.stop();
    };
  };

  const close = async (): Promise<void> => {
    closed.abort();
    cache = undefined;
    const subs = [...subscriptions];
    subscriptions.clear();
    await Promise.all(subs.map((s) => s.stop()));
  };

  return {
    getToken: async (opts) => (await getTokenInfo(opts)).accessToken,
    getTokenInfo,
    invalidate,
    authFetch,
    subscribe,
    close,
  };
}

function checkMinTtl(v: unknown): asserts v is number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 86_400)
    throw new TypeError('minTtl must be a number of seconds between 0 and 86400');
}
