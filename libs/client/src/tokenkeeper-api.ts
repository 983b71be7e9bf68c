import { TokenkeeperApiError, TokenUnavailableError, type TokenUnavailableReason } from './errors.js';

/** A token as received from the service, its expiry moved onto this process's clock. */
export interface ReceivedToken {
  accessToken: string;
  tokenType: string;
  tokenVersion: number;
  /** Local clock (`now()`), measured from when the request was sent: host clock skew does not matter. */
  expiresAtMs: number;
  /** How long the token had left when it arrived. */
  runwayAtReceiptMs: number;
  scope?: string;
  /** The service served a token it could not refresh (`tokenkeeper-warning`). */
  warning?: string;
}

export interface ApiSettings {
  baseUrl: string;
  apiKey: string | undefined;
  credentialId: string;
  fetch: typeof fetch;
  now: () => number;
  requestTimeoutMs: number;
  /** Aborted by `close()`. */
  closed: AbortSignal;
}

const SERVICE_REASONS = new Set<string>(['auth', 'network', 'pending', 'timeout']);

/** The calls this client makes to tokenkeeper's HTTP API, with their errors mapped to typed ones. */
export class TokenkeeperApi {
  private readonly origin: string;
  private readonly tokenPath: string;

  constructor(private readonly s: ApiSettings) {
    // Only the origin goes into messages: a base URL may carry user info or a query.
    this.origin = new URL(s.baseUrl).origin;
    this.tokenPath = `/v1/credentials/${encodeURIComponent(s.credentialId)}/token`;
  }

  /** `GET /v1/credentials/:id/token?minTtl=`: the service refreshes (and waits) if less is left. */
  getToken(minTtlSeconds: number): Promise<ReceivedToken> {
    return this.requestToken('GET', `${this.tokenPath}?minTtl=${Math.ceil(minTtlSeconds)}`);
  }

  /** `POST .../token/invalidate {version}`: token `version` was refused; returns its replacement. */
  invalidate(version: number): Promise<ReceivedToken> {
    return this.requestToken('POST', `${this.tokenPath}/invalidate`, JSON.stringify({ version }));
  }

  /** Absolute URL of an API path under the base URL (which may itself have a path prefix). */
  url(path: string): string {
    return this.s.baseUrl.replace(/\/+$/, '') + path;
  }

  /** Headers every call carries. */
  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.s.apiKey ? { authorization: `Bearer ${this.s.apiKey}` } : {}), ...extra };
  }

  private async requestToken(method: string, path: string, body?: string): Promise<ReceivedToken> {
    const sentAt = this.s.now();
    const timeout = new AbortController();
    const onClose = () => timeout.abort();
    this.s.closed.addEventListener('abort', onClose, { once: true });
    const timer = setTimeout(() => timeout.abort(), this.s.requestTimeoutMs);
    try {
      let res: Response;
      let text: string;
      try {
        res = await this.s.fetch(this.url(path), {
          method,
          headers: this.headers({
            accept: 'application/json',
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          }),
          ...(body !== undefined ? { body } : {}),
          signal: timeout.signal,
        });
        text = await res.text();
      } catch (err) {
        const why = timeout.signal.aborted
          ? this.s.closed.aborted
            ? 'the provider was closed'
            : `no answer within ${this.s.requestTimeoutMs} ms`
          : describeNetworkError(err);
        throw new TokenUnavailableError(
          'unreachable',
          `tokenkeeper at ${this.origin} is unreachable: ${why}`,
          undefined,
          {
            cause: err,
          },
        );
      }
      if (res.status === 200) return this.parseToken(res, text, sentAt);
      throw this.errorFor(res, text);
    } finally {
      clearTimeout(timer);
      this.s.closed.removeEventListener('abort', onClose);
    }
  }

  private parseToken(res: Response, text: string, sentAt: number): ReceivedToken {
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
        `tokenkeeper at ${this.origin} answered ${res.status} without a token body for credential ${this.s.credentialId}`,
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
      runwayAtReceiptMs,
      ...(typeof b?.scope === 'string' ? { scope: b.scope } : {}),
      ...(warning ? { warning } : {}),
    };
  }

  private errorFor(res: Response, text: string): Error {
    const p = parseJson(text);
    const code = typeof p?.code === 'string' ? p.code : undefined;
    const detail =
      typeof p?.detail === 'string' ? p.detail : typeof p?.title === 'string' ? p.title : undefined;
    const retryAfter = retryAfterSeconds(p?.retryAfter ?? res.headers.get('retry-after'));
    const what = `tokenkeeper answered ${res.status} for credential ${this.s.credentialId}`;
    if (code === 'TOKEN_UNAVAILABLE') {
      const reason = (
        typeof p?.reason === 'string' && SERVICE_REASONS.has(p.reason) ? p.reason : 'network'
      ) as TokenUnavailableReason;
      return new TokenUnavailableError(reason, `${what}: ${detail ?? 'no valid token'}`, retryAfter);
    }
    if (res.status >= 500 || res.status === 429 || res.status === 408) {
      return new TokenUnavailableError('unreachable', `${what}${detail ? `: ${detail}` : ''}`, retryAfter);
    }
    const fallbackCode =
      res.status === 401
        ? 'UNAUTHENTICATED'
        : res.status === 403
          ? 'FORBIDDEN'
          : res.status === 404
            ? 'CREDENTIAL_NOT_FOUND'
            : res.status >= 400 && res.status < 500
              ? 'BAD_REQUEST'
              : 'UNEXPECTED_RESPONSE';
    return new TokenkeeperApiError(code ?? fallbackCode, res.status, `${what}${detail ? `: ${detail}` : ''}`);
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
