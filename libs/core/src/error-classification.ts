/**
 * A failed grant, described independently of the HTTP library that saw it. `sent` (network,
 * timeout, http_status, invalid_response): the request may have reached the provider (a
 * connection was established and the request written or being written); absent = unknown =
 * treated as sent.
 */
export type GrantFailure =
  | { type: 'oauth_error'; error: string; description?: string; status: number; retryAfterMs?: number }
  | { type: 'http_status'; status: number; retryAfterMs?: number; sent?: boolean }
  | { type: 'network'; code?: string; message: string; sent?: boolean }
  /** `afterMs`: how long the grant waited. */
  | { type: 'timeout'; sent?: boolean; afterMs?: number }
  /** `status`: the HTTP status of the unusable answer, when one arrived. */
  | { type: 'invalid_response'; message: string; status?: number; sent?: boolean }
  /**
   * A failure the grant classified itself, for protocols without OAuth error codes (Vault, JWT
   * sources, static tokens): only the grant knows whether its input can still change.
   */
  | ({ type: 'classified' } & ClassifiedFailure);

export type FailureClass = 'transient' | 'permanent';

/**
 * Whether a failed request may have changed state at the provider: `not_sent` = it never left
 * (safe to retry as is); `unknown` = it may have been processed and its answer lost (a rotating
 * provider may have consumed the refresh token presented).
 */
export type GrantOutcome = 'not_sent' | 'unknown';

/** Code of a failure whose request may have been processed by the provider, its answer lost. */
export const OUTCOME_UNKNOWN = 'OUTCOME_UNKNOWN';

export interface ClassifiedFailure {
  class: FailureClass;
  /** Stable, upper-case code: what went wrong, safe to show and to alert on. */
  code: string;
  message: string;
  status?: number;
  retryAfterMs?: number;
  /** Set for transport failures: see GrantOutcome. Absent for answers the provider clearly gave. */
  outcome?: GrantOutcome;
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

/** Statuses a gateway answers on its own when the server behind it failed or did not answer. */
const GATEWAY_STATUSES: ReadonlySet<number> = new Set([502, 504]);

/** Error codes that only happen before a connection is up, whatever the transport says. */
const PRE_CONNECTION_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_NONAME',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'EADDRNOTAVAIL',
  'OUTBOUND_URL_REFUSED',
]);

function notSent(failure: { code?: string; sent?: boolean }): boolean {
  if (failure.sent !== undefined) return !failure.sent;
  return failure.code !== undefined && PRE_CONNECTION_CODES.has(failure.code);
}

function unknownOutcome(message: string): ClassifiedFailure {
  return { class: 'transient', code: OUTCOME_UNKNOWN, outcome: 'unknown', message };
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

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
      // A gateway's own answer: the request may have been forwarded and processed behind it.
      if (GATEWAY_STATUSES.has(failure.status)) {
        return {
          class: 'transient',
          code: OUTCOME_UNKNOWN,
          outcome: 'unknown',
          message: `gateway answered ${failure.status}`,
          ...base,
        };
      }
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
    case 'network': {
      const detail = failure.code ? `${failure.code}: ${failure.message}` : failure.message;
      if (notSent(failure)) {
        return { class: 'transient', code: 'NETWORK_ERROR', outcome: 'not_sent', message: detail };
      }
      const what = failure.code === 'ECONNRESET' ? 'connection reset' : 'connection failed';
      return unknownOutcome(`${what} after the request was sent (${detail})`);
    }
    case 'timeout': {
      const after = failure.afterMs !== undefined ? ` within ${formatMs(failure.afterMs)}` : ' in time';
      if (failure.sent === false) {
        return {
          class: 'transient',
          code: 'TIMEOUT',
          outcome: 'not_sent',
          message: `provider not reachable${after} (request not sent)`,
        };
      }
      return unknownOutcome(`no answer${after} after the request was sent`);
    }
    case 'invalid_response': {
      if (failure.sent === false) {
        return {
          class: 'transient',
          code: 'INVALID_RESPONSE',
          outcome: 'not_sent',
          message: failure.message,
        };
      }
      const status = failure.status;
      if (status === undefined || (status >= 200 && status < 300)) {
        const answer = status === undefined ? 'unparseable answer' : `unparseable ${status} answer`;
        return { ...unknownOutcome(`${answer}: ${failure.message}`), ...(status ? { status } : {}) };
      }
      return { class: 'transient', code: 'INVALID_RESPONSE', message: failure.message, status };
    }
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
