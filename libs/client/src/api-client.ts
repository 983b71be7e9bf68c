import {
  type ClientErrorCode,
  TokenkeeperApiError,
  TokenkeeperClientError,
  TokenUnavailableError,
  type TokenUnavailableReason,
} from './errors.js';
import type { ProblemCode } from './problem-codes.js';
import type { SseParser } from './sse-parser.js';

/** A token as received from the service, its expiry moved onto this process's clock. */
export interface ReceivedToken {
  accessToken: string;
  tokenType: string;
  tokenVersion: number;
  /** Local clock (`now()`), measured from when the request was sent: host clock skew does not matter. */
  expiresAtMs: number;
  /** Wall-clock expiry as the service states it (epoch ms), for files that carry an absolute time. */
  expiresAt: number;
  /** How long the token had left when it arrived. */
  runwayAtReceiptMs: number;
  scope?: string;
  /** The service served a token it could not refresh (`tokenkeeper-warning`). */
  warning?: string;
}

/** A credential's status as `GET /v1/credentials/:id` shows it (no secret). */
export interface CredentialStatus {
  id: string;
  state: string;
  tokenVersion: number;
  /** Epoch milliseconds, when a token exists. */
  expiresAt?: number;
  refreshAt?: number;
}

export interface ApiClientOptions {
  /** tokenkeeper's API, e.g. `https://tokenkeeper.internal:8080` (a path prefix is kept). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string | undefined;
  fetch?: typeof fetch;
  /** Per call (default 30000); event streams have none. */
  timeoutMs?: number;
  /** Clock for token expiry (default `Date.now`). */
  now?: () => number;
}

export type Query = Record<string, string | number | undefined | readonly (string | undefined)[]>;

export interface RequestOptions {
  query?: Query | undefined;
  /** Sent as JSON. */
  body?: unknown;
  /** Ends the call early (with `TokenkeeperUnreachableError`, reason "the request was cancelled"). */
  signal?: AbortSignal | undefined;
  timeoutMs?: number | undefined;
}

export interface ApiResponse<T> {
  status: number;
  headers: Headers;
  body: T;
}

/**
 * tokenkeeper could not be reached: connection refused, DNS, TLS, no answer in time, or the call
 * was cancelled. `reason` is short (`ECONNREFUSED`, `no answer within 100 ms`), never a URL.
 */
export class TokenkeeperUnreachableError extends TokenkeeperClientError {
  constructor(
    readonly origin: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super('UNREACHABLE', `tokenkeeper at ${origin} is unreachable: ${reason}`, options);
  }
}

const SERVICE_REASONS = new Set<string>(['auth', 'network', 'pending', 'timeout']);
const PROBLEM_ACCEPT = 'application/json, application/problem+json';

/**
 * The one HTTP client of tokenkeeper's own API: base URL and API key, a timeout per call, problem
 * bodies turned into typed errors, and the event stream with `Last-Event-ID`. The SDK's token
 * provider, the agent and the command line all call the API through it.
 */
export class TokenkeeperApiClient {
  /** Only the origin goes into messages: a base URL may carry user info or a query. */
  readonly origin: string;
  private readonly base: string;
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number;
  private readonly now: () => number;

  constructor(private readonly options: ApiClientOptions) {
    if (typeof options.baseUrl !== 'string' || !URL.canParse(options.baseUrl))
      throw new TypeError('tokenkeeper API client: baseUrl must be an http(s) URL');
    this.origin = new URL(options.baseUrl).origin;
    this.base = options.baseUrl.replace(/\/+$/, '');
    const f = options.fetch ?? globalThis.fetch;
    this.fetchImpl = (input, init) => f(input, init);
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  /** Absolute URL of an API path (`/v1/...`) under the base URL, with the query's defined values. */
  url(path: string, query?: Query): string {
    const url = new URL(this.base + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      for (const v of Array.isArray(value) ? value : [value]) {
        if (v !== undefined && v !== '') url.searchParams.append(key, String(v));
      }
    }
    return url.toString();
  }

  /** Headers every call carries. */
  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}), ...extra };
  }

  /** One call, whatever its status; the body is read as text. Throws `TokenkeeperUnreachableError`. */
  async send(
    method: string,
    path: string,
    o: RequestOptions = {},
  ): Promise<{ response: Response; text: string; sentAt: number }> {
    const timeoutMs = o.timeoutMs ?? this.timeoutMs;
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), timeoutMs);
    const signal = o.signal ? AbortSignal.any([o.signal, timeout.signal]) : timeout.signal;
    const sentAt = this.now();
    try {
      const response = await this.fetchImpl(this.url(path, o.query), {
        method,
        headers: this.headers({
          accept: PROBLEM_ACCEPT,
          ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}),
        }),
        ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
        signal,
      });
      const text = await response.text();
      return { response, text, sentAt };
    } catch (err) {
      const why = o.signal?.aborted
        ? 'the request was cancelled'
        : timeout.signal.aborted
          ? `no answer within ${timeoutMs} ms`
          : describeNetworkError(err);
      throw new TokenkeeperUnreachableError(this.origin, why, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A JSON call: the parsed body of a 2xx answer. Any other status throws `TokenkeeperApiError`
   * carrying the problem body (its `code`, or one derived from the status).
   */
  async request<T>(method: string, path: string, o: RequestOptions = {}): Promise<ApiResponse<T>> {
    const { response, text } = await this.send(method, path, o);
    const body = parseAnyJson(text);
    if (!response.ok) throw this.problemError(response, text, `${method} ${path.split('?')[0]}`, 'NOT_FOUND');
    if (text && body === undefined)
      throw new TokenkeeperApiError(
        'UNEXPECTED_RESPONSE',
        response.status,
        `tokenkeeper at ${this.origin} answered ${method} ${path.split('?')[0]} with something that is not JSON`,
      );
    return { status: response.status, headers: response.headers, body: body as T };
  }

  /** `GET /v1/credentials/:id`: state, token version and times, never a secret. */
  async credentialStatus(id: string, o: RequestOptions = {}): Promise<CredentialStatus> {
    const { body } = await this.request<Record<string, unknown> | undefined>(
      'GET',
      `/v1/credentials/${encodeURIComponent(id)}`,
      o,
    );
    if (typeof body?.tokenVersion !== 'number')
      throw new TokenkeeperApiError(
        'UNEXPECTED_RESPONSE',
        200,
        `tokenkeeper at ${this.origin} answered the status of ${id} without a tokenVersion`,
      );
    const status: CredentialStatus = { id, state: String(body.state), tokenVersion: body.tokenVersion };
    const expiresAt = epochMs(body.expiresAt);
    const refreshAt = epochMs(body.refreshAt);
    if (expiresAt !== undefined) status.expiresAt = expiresAt;
    if (refreshAt !== undefined) status.refreshAt = refreshAt;
    return status;
  }

  /**
   * `GET /v1/credentials/:id/token?minTtl=`: the service refreshes (and waits) if less is left.
   * Without a token: `TokenUnavailableError` (unreachable, 5xx, or the service's reason) or
   * `TokenkeeperApiError` (refused: key, scope, unknown credential).
   */
  credentialToken(id: string, minTtlSeconds: number, o: RequestOptions = {}): Promise<ReceivedToken> {
    const path = `/v1/credentials/${encodeURIComponent(id)}/token`;
    return this.requestToken(id, 'GET', path, { ...o, query: { minTtl: Math.ceil(minTtlSeconds) } });
  }

  /** `POST .../token/invalidate {version}`: token `version` was refused; returns its replacement. */
  invalidateToken(id: string, version: number, o: RequestOptions = {}): Promise<ReceivedToken> {
    const path = `/v1/credentials/${encodeURIComponent(id)}/token/invalidate`;
    return this.requestToken(id, 'POST', path, { ...o, body: { version } });
  }

  /**
   * Opens `GET /v1/events/stream` (server-sent events), resuming after `lastEventId`. Resolves to
   * the open response; a refusal throws `TokenkeeperApiError` (`UNAUTHENTICATED`, `FORBIDDEN`,
   * `STREAM_REFUSED`) with the status; a network failure rejects with fetch's own error.
   */
  async openEventStream(o: { query?: Query; lastEventId?: string; signal?: AbortSignal }): Promise<Response> {
    const res = await this.fetchImpl(this.url('/v1/events/stream', o.query), {
      headers: this.headers({
        accept: 'text/event-stream',
        'cache-control': 'no-store',
        ...(o.lastEventId ? { 'last-event-id': o.lastEventId } : {}),
      }),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    if (
      res.status !== 200 ||
      !res.body ||
      !(res.headers.get('content-type') ?? '').includes('text/event-stream')
    ) {
      await res.body?.cancel().catch(() => undefined);
      throw new TokenkeeperApiError(
        res.status === 401 ? 'UNAUTHENTICATED' : res.status === 403 ? 'FORBIDDEN' : 'STREAM_REFUSED',
        res.status,
        `the event stream at ${this.origin} answered ${res.status}`,
      );
    }
    return res;
  }

  private async requestToken(
    id: string,
    method: string,
    path: string,
    o: RequestOptions,
  ): Promise<ReceivedToken> {
    let sent: Awaited<ReturnType<TokenkeeperApiClient['send']>>;
    try {
      sent = await this.send(method, path, o);
    } catch (err) {
      if (!(err instanceof TokenkeeperUnreachableError)) throw err;
      throw new TokenUnavailableError('unreachable', err.message, undefined, { cause: err });
    }
    const { response: res, text, sentAt } = sent;
    if (res.status === 200) return this.parseToken(id, res, text, sentAt);
    const what = `tokenkeeper answered ${res.status} for credential ${id}`;
    const p = parseJson(text);
    const detail = problemDetail(p);
    const retryAfter = retryAfterSeconds(p?.retryAfter ?? res.headers.get('retry-after'));
    if (p?.code === 'TOKEN_UNAVAILABLE') {
      const reason = (
        typeof p.reason === 'string' && SERVICE_REASONS.has(p.reason) ? p.reason : 'network'
      ) as TokenUnavailableReason;
      throw new TokenUnavailableError(reason, `${what}: ${detail ?? 'no valid token'}`, retryAfter);
    }
    if (res.status >= 500 || res.status === 429 || res.status === 408)
      throw new TokenUnavailableError('unreachable', `${what}${detail ? `: ${detail}` : ''}`, retryAfter);
    throw this.problemError(res, text, `credential ${id}`, 'CREDENTIAL_NOT_FOUND');
  }

  private problemError(
    res: Response,
    text: string,
    what: string,
    notFoundCode: ProblemCode,
  ): TokenkeeperApiError {
    const problem = parseJson(text);
    const detail = problemDetail(problem);
    const code = typeof problem?.code === 'string' ? problem.code : statusCode(res.status, notFoundCode);
    const retryAfter = retryAfterSeconds(problem?.retryAfter ?? res.headers.get('retry-after'));
    return new TokenkeeperApiError(
      code,
      res.status,
      `tokenkeeper answered ${res.status} for ${what}${detail ? `: ${detail}` : ''}`,
      {
        ...(problem ? { problem } : {}),
        ...(retryAfter !== undefined ? { retryAfterSeconds: retryAfter } : {}),
      },
    );
  }

  private parseToken(id: string, res: Response, text: string, sentAt: number): ReceivedToken {
    const b = parseJson(text);
    const accessToken = b?.accessToken;
    const tokenVersion = b?.tokenVersion;
    const expiresIn = b?.expiresIn;
    const expiresAt = typeof b?.expiresAt === 'string' ? Date.parse(b.expiresAt) : Number.NaN;
    if (
      typeof accessToken !== 'string' ||
      accessToken === '' ||
      typeof tokenVersion !== 'number' ||
      (typeof expiresIn !== 'number' && Number.isNaN(expiresAt))
    ) {
      throw new TokenkeeperApiError(
        'UNEXPECTED_RESPONSE',
        res.status,
        `tokenkeeper at ${this.origin} answered ${res.status} without a token body for credential ${id}`,
      );
    }
    // expiresIn is relative (and rounded down), so it needs no agreement between the two clocks.
    const runwayAtReceiptMs =
      typeof expiresIn === 'number' ? Math.max(0, expiresIn * 1000) : Math.max(0, expiresAt - Date.now());
    const warning =
      res.headers.get('tokenkeeper-warning') ?? (typeof b?.warning === 'string' ? b.warning : undefined);
    return {
      accessToken,
      tokenType: normalizeTokenType(b?.tokenType),
      tokenVersion,
      expiresAtMs: sentAt + runwayAtReceiptMs,
      expiresAt: Number.isNaN(expiresAt) ? Date.now() + runwayAtReceiptMs : expiresAt,
      runwayAtReceiptMs,
      ...(typeof b?.scope === 'string' ? { scope: b.scope } : {}),
      ...(warning ? { warning } : {}),
    };
  }
}

/**
 * Reads an open event stream to its end, feeding the parser as bytes arrive (a multi-byte
 * character or a CR/LF split across chunks is fine). `onChunk` sees every arrival (idle timers).
 * Resolves to whether anything arrived.
 */
export async function readEventStream(
  res: Response,
  parser: SseParser,
  onChunk?: () => void,
): Promise<boolean> {
  if (!res.body) return false;
  let received = false;
  const decoder = new TextDecoder();
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      received = true;
      onChunk?.();
      parser.push(decoder.decode(value, { stream: true }));
    }
  } finally {
    reader.releaseLock();
  }
  return received;
}

function statusCode(status: number, notFoundCode: ProblemCode): ProblemCode | ClientErrorCode {
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 403) return 'FORBIDDEN';
  if (status === 404) return notFoundCode;
  if (status >= 400 && status < 500) return 'BAD_REQUEST';
  return 'UNEXPECTED_RESPONSE';
}

function problemDetail(p: Record<string, unknown> | undefined): string | undefined {
  return typeof p?.detail === 'string' ? p.detail : typeof p?.title === 'string' ? p.title : undefined;
}

function parseAnyJson(text: string): unknown {
  try {
    return text ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    return undefined;
  }
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function epochMs(iso: unknown): number | undefined {
  return typeof iso === 'string' && !Number.isNaN(Date.parse(iso)) ? Date.parse(iso) : undefined;
}

function retryAfterSeconds(v: unknown): number | undefined {
  const n =
    typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : Number.NaN;
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** RFC 6750 says the scheme is case-insensitive, but some servers only accept `Bearer`. */
function normalizeTokenType(v: unknown): string {
  if (typeof v !== 'string' || v === '' || v.toLowerCase() === 'bearer') return 'Bearer';
  return v;
}

/** A short reason from a fetch failure (`ECONNREFUSED`, ...), never a URL with credentials. */
export function describeNetworkError(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (err instanceof Error && err.name !== 'TypeError') return err.name;
  return typeof cause?.message === 'string' ? cause.message : 'connection failed';
}
