import { assertHeaderValue } from '../http/header-value.js';
import type { TokenSnapshot } from '../sinks/token-snapshot.js';

/** What went wrong talking to the API. `unreachable` and `unavailable` are worth retrying soon. */
export type ApiErrorKind = 'unreachable' | 'unauthorized' | 'not_found' | 'unavailable' | 'bad_response';

export class ApiError extends Error {
  readonly code = 'AGENT_API_ERROR';
  constructor(
    readonly kind: ApiErrorKind,
    message: string,
    readonly status?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
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

const ms = (iso: unknown) =>
  typeof iso === 'string' && !Number.isNaN(Date.parse(iso)) ? Date.parse(iso) : undefined;

/** The two reads the agent needs from the tokenkeeper API, with its key and a timeout each. */
export class TokenkeeperApi {
  constructor(
    private readonly baseUrl: string,
    private readonly apiKey: string,
    private readonly timeoutMs: number,
  ) {
    assertHeaderValue(apiKey, 'api.apiKey');
  }

  async status(id: string, signal: AbortSignal): Promise<CredentialStatus> {
    const body = await this.get(`/v1/credentials/${encodeURIComponent(id)}`, signal);
    if (typeof body.tokenVersion !== 'number')
      throw new ApiError('bad_response', 'status without tokenVersion');
    const status: CredentialStatus = { id, state: String(body.state), tokenVersion: body.tokenVersion };
    const expiresAt = ms(body.expiresAt);
    const refreshAt = ms(body.refreshAt);
    if (expiresAt !== undefined) status.expiresAt = expiresAt;
    if (refreshAt !== undefined) status.refreshAt = refreshAt;
    return status;
  }

  async token(id: string, minTtl: number, signal: AbortSignal): Promise<TokenSnapshot> {
    const body = await this.get(`/v1/credentials/${encodeURIComponent(id)}/token?minTtl=${minTtl}`, signal);
    const expiresAt = ms(body.expiresAt);
    if (
      typeof body.accessToken !== 'string' ||
      typeof body.tokenVersion !== 'number' ||
      expiresAt === undefined
    )
      throw new ApiError('bad_response', 'token response without accessToken, tokenVersion or expiresAt');
    return {
      credentialId: id,
      accessToken: body.accessToken,
      tokenType: typeof body.tokenType === 'string' ? body.tokenType : 'Bearer',
      tokenVersion: body.tokenVersion,
      expiresAt,
      ...(typeof body.scope === 'string' ? { scope: body.scope } : {}),
    };
  }

  /** Headers for any request to the API (the event stream adds its own). */
  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.apiKey}`, ...extra };
  }

  url(path: string): string {
    return new URL(path, this.baseUrl.endsWith('/') ? this.baseUrl : `${this.baseUrl}/`).toString();
  }

  private async get(path: string, signal: AbortSignal): Promise<Record<string, unknown>> {
    let res: Response;
    try {
      res = await fetch(this.url(path.slice(1)), {
        headers: this.headers({ accept: 'application/json' }),
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]),
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const why =
        e.name === 'TimeoutError' ? `timed out after ${this.timeoutMs} ms` : (e.cause?.code ?? e.message);
      throw new ApiError('unreachable', `tokenkeeper API unreachable: ${why}`);
    }
    const text = await res.text().catch(() => '');
    let body: Record<string, unknown> = {};
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      if (res.ok)
        throw new ApiError('bad_response', `the API answered ${res.status} with a body that is not JSON`);
    }
    if (res.ok) return body;
    const detail =
      typeof body.detail === 'string' ? body.detail : typeof body.title === 'string' ? body.title : '';
    const retryAfter = Number(res.headers.get('retry-after') ?? body.retryAfter);
    const retryAfterMs = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined;
    const kind: ApiErrorKind =
      res.status === 401 || res.status === 403
        ? 'unauthorized'
        : res.status === 404
          ? 'not_found'
          : res.status >= 500 || res.status === 429
            ? 'unavailable'
            : 'bad_response';
    throw new ApiError(
      kind,
      `the API answered ${res.status}${detail ? `: ${detail}` : ''}`,
      res.status,
      retryAfterMs,
    );
  }
}
