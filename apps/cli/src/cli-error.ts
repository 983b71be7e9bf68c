import { type ErrorCode, isProblemCode, type ProblemCode } from '#client';
import { ExitCode } from './exit-codes.js';

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
const REAUTH =
  'the credential needs re-authentication: `tokenkeeper creds show <id>` says which secrets to give `tokenkeeper creds update`';
const lacksScope = (what: string) =>
  `the API key lacks the scope to ${what}; ask an admin for a key that has it`;
const retryLater = (problem: ProblemBody) =>
  problem.retryAfter !== undefined ? `retry in ${problem.retryAfter} s` : 'retry later';

/** What to do next, by the code the API answered with (codes not listed here need no hint). */
const HINTS: Partial<Record<ProblemCode, (what: string, problem: ProblemBody) => string>> = {
  UNAUTHENTICATED: () => LOGIN,
  FORBIDDEN: lacksScope,
  TOKEN_SOURCE_FORBIDDEN: lacksScope,
  NOT_FOUND: () => 'this API server does not offer that route: check --url, or upgrade the server',
  CREDENTIAL_NOT_FOUND: () => LIST,
  POOL_NOT_FOUND: () => LIST,
  SUBSCRIPTION_NOT_FOUND: () => LIST,
  DELIVERY_NOT_FOUND: () => LIST,
  API_KEY_NOT_FOUND: () => LIST,
  REVISION_CONFLICT: () => 'it changed meanwhile: read it again and retry',
  VALIDATION_FAILED: () => FIX_FIELDS,
  INVALID_BODY: () => FIX_FIELDS,
  INVALID_CREDENTIAL_INPUT: () => FIX_FIELDS,
  INVALID_SUBSCRIPTION_INPUT: () => FIX_FIELDS,
  OUTBOUND_URL_REFUSED: () => FIX_FIELDS,
  RATE_LIMITED: (_, problem) => retryLater(problem),
  TOO_MANY_STREAMS: (_, problem) => retryLater(problem),
  TOO_MANY_STREAMS_FOR_NAMESPACE: (_, problem) => retryLater(problem),
  TOKEN_UNAVAILABLE: (_, problem) => (problem.reason === 'auth' ? REAUTH : retryLater(problem)),
  SECRET_DECRYPTION_FAILED: () => 'give the credential its secrets again with `tokenkeeper creds update`',
  ENCRYPTION_KEY_MISSING: (_, problem) =>
    `${retryLater(problem)}: the API process lacks the encryption key the secrets were stored with`,
  INTERNAL: () => 'the server logged the error; retry later or check its logs',
};

/**
 * What to do next, for a failed API call: by the problem's code, or by the status when the answer
 * names no code this CLI knows (a proxy's error page, an older or newer server).
 */
export function hintFor(status: number, problem: ProblemBody | undefined, what: string): string | undefined {
  if (isProblemCode(problem?.code)) return HINTS[problem.code]?.(what, problem);
  if (status === 401) return LOGIN;
  if (status === 403) return lacksScope(what);
  if (status === 404) return LIST;
  if (status === 409) return 'it changed meanwhile: read it again and retry';
  if (status === 400 || status === 422) return FIX_FIELDS;
  if (status === 503 && problem?.reason === 'auth') return REAUTH;
  if (status === 503 || status === 502 || status === 504) return retryLater(problem ?? {});
  if (status >= 500) return 'the server logged the error; retry later or check its logs';
  return undefined;
}

/** A problem body turned into a CliError for the user. */
export function problemError(status: number, body: unknown, what: string): CliError {
  const problem = body && typeof body === 'object' ? (body as ProblemBody) : undefined;
  const title = problem?.title ?? `HTTP ${status}`;
  const message = problem?.detail && problem.detail !== title ? `${title}: ${problem.detail}` : title;
  const details = (problem?.errors ?? []).map((e) => `${e.field || '(body)'}: ${e.message}`);
  const hint = hintFor(status, problem, what);
  return new CliError(message, exitCodeForStatus(status), {
    details,
    status,
    ...(problem ? { problem } : {}),
    ...(hint ? { hint } : {}),
  });
}
