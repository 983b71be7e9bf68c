import { type ErrorCode, isProblemCode, type ProblemCode } from '#client';
import { ExitCode } from './exit-codes.js';
import { sanitize } from './format.js';

/** An RFC 9457 problem as the API sends it. */
export interface ProblemBody {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  /** One of the SDK's `ProblemCode`s, or a code of a newer server. */
  code?: ErrorCode;
  errors?: { field: string; message: string }[];
  reason?: string;
  retryAfter?: number;
  [extension: string]: unknown;
}

/** Everything the CLI reports to the user: a message, optional details, a hint and an exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    readonly options: { details?: string[]; hint?: string; problem?: ProblemBody; status?: number } = {},
  ) {
    super(message);
    this.name = 'CliError';
  }

  /** Whether the API answered with one of `codes`. */
  is(...codes: ProblemCode[]): boolean {
    const code = this.options.problem?.code;
    return code !== undefined && (codes as string[]).includes(code);
  }

  static usage(message: string, hint?: string): CliError {
    return new CliError(message, ExitCode.Usage, hint ? { hint } : {});
  }
}

/** The exit code for an HTTP error status. */
export function exitCodeForStatus(status: number): ExitCode {
  if (status === 401 || status === 403) return ExitCode.Auth;
  if (status === 404 || status === 410) return ExitCode.NotFound;
  if (status === 502 || status === 503 || status === 504) return ExitCode.Unavailable;
  return ExitCode.Api;
}

const LOGIN = 'log in with `tokenkeeper login --url <api> --api-key <key>` or set TOKENKEEPER_API_KEY';
const LIST = 'list what exists with `tokenkeeper creds ls` (or `tokenkeeper keys ls`)';
const FIX_FIELDS = 'fix the fields listed above and run the command again';
const CHANGED = 'it changed meanwhile: read it again and retry';
const LOGGED = 'the server logged the error; retry later or check its logs';
const REAUTH =
  'the credential needs re-authentication: `tokenkeeper creds show <id>` says which secrets to give `tokenkeeper creds update`';
const lacksScope = (what: string) =>
  `the API key lacks the scope to ${what}; ask an admin for a key that has it`;
const retryLater = (problem: ProblemBody) =>
  typeof problem.retryAfter === 'number' ? `retry in ${problem.retryAfter} s` : 'retry later';

/** What to do next, by the code the API answered with (codes not listed here need no hint). */
function hintForCode(code: ProblemCode, problem: ProblemBody, what: string): string | undefined {
  switch (code) {
    case 'UNAUTHENTICATED':
      return LOGIN;
    case 'FORBIDDEN':
    case 'TOKEN_SOURCE_FORBIDDEN':
      return lacksScope(what);
    case 'NOT_FOUND':
      return 'this API server does not offer that route: check --url, or upgrade the server';
    case 'CREDENTIAL_NOT_FOUND':
    case 'POOL_NOT_FOUND':
    case 'SUBSCRIPTION_NOT_FOUND':
    case 'DELIVERY_NOT_FOUND':
    case 'API_KEY_NOT_FOUND':
      return LIST;
    case 'REVISION_CONFLICT':
      return CHANGED;
    case 'INVALID_CURSOR':
      return 'list again from the start: a cursor is valid only for the listing that gave it';
    case 'VALIDATION_FAILED':
    case 'INVALID_BODY':
    case 'INVALID_JSON':
    case 'JSON_TOO_DEEP':
    case 'BAD_REQUEST':
    case 'INVALID_CREDENTIAL_INPUT':
    case 'INVALID_SUBSCRIPTION_INPUT':
    case 'OUTBOUND_URL_REFUSED':
      return FIX_FIELDS;
    case 'TOKEN_UNAVAILABLE':
      return problem.reason === 'auth' ? REAUTH : retryLater(problem);
    case 'RATE_LIMITED':
    case 'TOO_MANY_STREAMS':
    case 'TOO_MANY_STREAMS_FOR_NAMESPACE':
      return retryLater(problem);
    case 'SECRET_DECRYPTION_FAILED':
      return 'give the credential its secrets again with `tokenkeeper creds update`';
    case 'ENCRYPTION_KEY_MISSING':
      return `${retryLater(problem)}: the API process lacks the encryption key the secrets were stored with`;
    case 'INTERNAL':
      return LOGGED;
    default:
      return undefined;
  }
}

/**
 * What to do next, for a failed API call: by the problem's code, or by the status when the answer
 * names no code this CLI knows (a proxy's error page, an older or newer server).
 */
export function hintFor(status: number, problem: ProblemBody | undefined, what: string): string | undefined {
  if (isProblemCode(problem?.code)) return hintForCode(problem.code, problem, what);
  if (status === 401) return LOGIN;
  if (status === 403) return lacksScope(what);
  if (status === 404) return LIST;
  if (status === 409) return CHANGED;
  if (status === 400 || status === 422) return FIX_FIELDS;
  if (status === 503 && problem?.reason === 'auth') return REAUTH;
  if (status === 503 || status === 502 || status === 504) return retryLater(problem ?? {});
  if (status >= 500) return LOGGED;
  return undefined;
}

/** A problem body turned into a CliError for the user. */
export function problemError(status: number, body: unknown, what: string): CliError {
  const problem = body && typeof body === 'object' ? (body as ProblemBody) : undefined;
  // The server's texts reach the terminal: printable and bounded.
  const text = (v: unknown, max: number) => sanitize(String(v), max);
  const title = problem?.title !== undefined ? text(problem.title, 200) : `HTTP ${status}`;
  const detail = problem?.detail !== undefined ? text(problem.detail, 1_000) : undefined;
  const message = detail && detail !== title ? `${title}: ${detail}` : title;
  const errors = Array.isArray(problem?.errors) ? problem.errors.slice(0, 20) : [];
  const details = errors.map((e) => `${text(e?.field || '(body)', 100)}: ${text(e?.message, 500)}`);
  const hint = hintFor(status, problem, what);
  return new CliError(message, exitCodeForStatus(status), {
    details,
    status,
    ...(problem ? { problem } : {}),
    ...(hint ? { hint } : {}),
  });
}
