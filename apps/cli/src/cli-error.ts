import { ExitCode } from './exit-codes.js';

/** An RFC 9457 problem as the API sends it. */
export interface ProblemBody {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  code?: string;
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

/** What to do next, for a failed API call. */
export function hintFor(status: number, problem: ProblemBody | undefined, what: string): string | undefined {
  if (status === 401)
    return 'log in with `tokenkeeper login --url <api> --api-key <key>` or set TOKENKEEPER_API_KEY';
  if (status === 403) return `the API key lacks the scope to ${what}; ask an admin for a key that has it`;
  if (status === 404) {
    if (problem?.code === 'NOT_FOUND' || problem?.code === 'HTTP_404')
      return 'this API server does not offer that route: check --url, or upgrade the server';
    return 'list what exists with `tokenkeeper creds ls` (or `tokenkeeper keys ls`)';
  }
  if (status === 409) return 'it changed meanwhile: read it again and retry';
  if (status === 400 || status === 422) return 'fix the fields listed above and run the command again';
  if (status === 503 && problem?.reason === 'auth')
    return 'the credential needs re-authentication: `tokenkeeper creds show <id>` says which secrets to give `tokenkeeper creds update`';
  if (status === 503 || status === 502 || status === 504)
    return problem?.retryAfter !== undefined ? `retry in ${problem.retryAfter} s` : 'retry later';
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
