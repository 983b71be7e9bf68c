/**
 * The CLI's exit codes. Scripts may rely on them: they are documented in `tokenkeeper --help`
 * and in docs/operations.md. Never renumber one.
 */
export const ExitCode = {
  Ok: 0,
  /** Wrong command line: unknown command or option, missing argument, unreadable input file. */
  Usage: 1,
  /** The API refused the request (validation, conflict) or answered with an unexpected error. */
  Api: 2,
  /** The credential, key or route does not exist. */
  NotFound: 3,
  /** No API key, a wrong one, or one without the needed scope. */
  Auth: 4,
  /** The API cannot be reached, or it answered 502/503/504 (e.g. no valid token right now). */
  Unavailable: 5,
  /**
   * The reader of its output went away (a closed pipe: `| head`) before the command finished: it
   * ends quietly, as a Unix tool killed by SIGPIPE does (128 + 13), never as a success.
   */
  ClosedPipe: 141,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const EXIT_CODES_HELP = `Exit codes:
  0  ok
  1  usage error (unknown option, missing argument, unreadable file)
  2  the API refused the request (validation error, conflict) or failed
  3  not found (credential, API key)
  4  authentication or permission error (run \`tokenkeeper login\`)
  5  unavailable (API unreachable, or 502/503/504 such as "no valid token")
  141  its output pipe closed before it finished (\`| head\`), as for any Unix tool`;
