/** A failed grant, described independently of the HTTP library that saw it. */
export type GrantFailure =
  | { type: 'oauth_error'; error: string; description?: string; status: number; retryAfterMs?: number }
  | { type: 'http_status'; status: number; retryAfterMs?: number }
  | { type: 'network'; code?: string; message: string }
  | { type: 'timeout' }
  | { type: 'invalid_response'; message: string }
  /**
   * A failure the grant classified itself, for protocols without OAuth error codes (Vault, JWT
   * sources, static tokens): only the grant knows whether its input can still change.
   */
  | {
      type: 'classified';
      class: FailureClass;
      code: string;
      message: string;
      status?: number;
      retryAfterMs?: number;
    };

export type FailureClass = 'transient' | 'permanent';

export interface ClassifiedFailure {
  class: FailureClass;
  /** Stable, upper-case code: what went wrong, safe to show and to alert on. */
  code: string;
  message: string;
  status?: number;
  retryAfterMs?: number;
}

/** OAuth error codes after which retrying cannot help until someone changes the credential. */
export const PERMANENT_OAUTH_ERRORS: ReadonlySet<string> = new Set([
  'invalid_grant',
  'invalid_client',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_target',
  'access_denied',
]);

const REVOKED_HINT = /revoked|unknown token|invalid token|token (?:is )?(?:not found|expired)/i;

/** Classifies a failure; every string it returns is bounded by `boundText`. */
export function classifyGrantFailure(failure: GrantFailure): ClassifiedFailure {
  return boundClassified(classify(failure));
}

function classify(failure: GrantFailure): ClassifiedFailure {
  switch (failure.type) {
    case 'oauth_error': {
      const base = {
        status: failure.status,
        ...(failure.retryAfterMs !== undefined ? { retryAfterMs: failure.retryAfterMs } : {}),
      };
      const detail = failure.description ? `: ${failure.description}` : '';
      if (PERMANENT_OAUTH_ERRORS.has(failure.error)) {
        return {
          class: 'permanent',
          code: failure.error.toUpperCase(),
          message: `${failure.error}${detail}`,
          ...base,
        };
      }
      if (
        failure.status === 400 &&
        failure.error === 'invalid_request' &&
        REVOKED_HINT.test(failure.description ?? '')
      ) {
        return { class: 'permanent', code: 'TOKEN_REVOKED', message: `${failure.error}${detail}`, ...base };
      }
      if (failure.status === 429)
        return { class: 'transient', code: 'RATE_LIMITED', message: `${failure.error}${detail}`, ...base };
      if (failure.status >= 500)
        return {
          class: 'transient',
          code: 'PROVIDER_UNAVAILABLE',
          message: `${failure.error}${detail}`,
          ...base,
        };
      return { class: 'transient', code: 'OAUTH_ERROR', message: `${failure.error}${detail}`, ...base };
    }
    case 'http_status': {
      const base = {
        status: failure.status,
        ...(failure.retryAfterMs !== undefined ? { retryAfterMs: failure.retryAfterMs } : {}),
      };
      if (failure.status === 429)
        return { class: 'transient', code: 'RATE_LIMITED', message: 'provider rate limit (429)', ...base };
      if (failure.status >= 500) {
        return {
          class: 'transient',
          code: 'PROVIDER_UNAVAILABLE',
          message: `provider answered ${failure.status}`,
          ...base,
        };
      }
      if (failure.status === 401 || failure.status === 403) {
        return {
          class: 'permanent',
          code: 'INVALID_CLIENT',
          message: `provider refused the client (${failure.status})`,
          ...base,
        };
      }
      return {
        class: 'transient',
        code: 'UNEXPECTED_STATUS',
        message: `provider answered ${failure.status}`,
        ...base,
      };
    }
    case 'network':
      return {
        class: 'transient',
        code: 'NETWORK_ERROR',
        message: failure.code ? `${failure.code}: ${failure.message}` : failure.message,
      };
    case 'timeout':
      return { class: 'transient', code: 'TIMEOUT', message: 'token endpoint did not answer in time' };
    case 'invalid_response':
      return { class: 'transient', code: 'INVALID_RESPONSE', message: failure.message };
    case 'classified': {
      const { type: _type, ...classified } = failure;
      return classified;
    }
  }
}

/** Parses a `Retry-After` header (seconds or an HTTP date) into milliseconds from `now`. */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // Only an HTTP-date (which names a weekday and month) counts; "-5" or "1.5" are garbage, not dates.
  if (!/[A-Za-z]/.test(trimmed)) return undefined;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The most characters a provider-supplied string keeps once stored or echoed. */
export const MAX_PROVIDER_TEXT = 512;

// C0 and C1 controls, DEL and the Unicode line/paragraph separators: a run becomes one space.
const CONTROL_RUN = /[\p{Cc}\u2028\u2029]+/gu;

/**
 * Bounds text that came from outside (a provider's error description, a Vault error list, a
 * network message): control characters become a space and the result keeps at most `max`
 * characters, ending in "…" when cut. Never splits a surrogate pair.
 */
export function boundText(text: string, max = MAX_PROVIDER_TEXT): string {
  // Cleaning only ever shortens, so looking past twice the bound is wasted work.
  const cleaned = text.slice(0, max * 2).replace(CONTROL_RUN, ' ');
  if (cleaned.length <= max) return cleaned;
  let cut = cleaned.slice(0, max - 1);
  if (/[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/** The same failure with every free-text field bounded by `boundText`. */
export function boundGrantFailure(failure: GrantFailure): GrantFailure {
  switch (failure.type) {
    case 'oauth_error':
      return {
        ...failure,
        error: boundText(failure.error),
        ...(failure.description !== undefined ? { description: boundText(failure.description) } : {}),
      };
    case 'network':
      return {
        ...failure,
        message: boundText(failure.message),
        ...(failure.code !== undefined ? { code: boundText(failure.code) } : {}),
      };
    case 'invalid_response':
    case 'classified':
      return { ...failure, message: boundText(failure.message) };
    default:
      return failure;
  }
}

function boundClassified(c: ClassifiedFailure): ClassifiedFailure {
  return { ...c, code: boundText(c.code), message: boundText(c.message) };
}
