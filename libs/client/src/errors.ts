/**
 * Errors thrown by the client. Every one carries a stable string `code`; messages name the
 * credential and the HTTP status but never a token or an API key.
 */
import { isProblemCode, type ProblemCode } from './problem-codes.js';

/**
 * Codes this client gives to what went wrong on its side of the wire (the API's own codes are
 * `ProblemCode`s):
 * - `UNREACHABLE`: no answer (connection error, timeout);
 * - `UNEXPECTED_RESPONSE`: an answer this client does not understand;
 * - `STREAM_REFUSED`: the event stream was refused with a status that has no problem code;
 * - `STREAM_DISCONNECTED`, `BAD_EVENT`, `HANDLER_FAILED`: what `subscribe`'s `onError` is told;
 * - `CLIENT_CLOSED`: the token provider was closed.
 */
export const CLIENT_ERROR_CODES = [
  'UNREACHABLE',
  'UNEXPECTED_RESPONSE',
  'STREAM_REFUSED',
  'STREAM_DISCONNECTED',
  'BAD_EVENT',
  'HANDLER_FAILED',
  'CLIENT_CLOSED',
] as const;
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];

/**
 * The `code` of an error of this package: one of the API's problem codes, one of the client's own,
 * or (from a newer server) a code this version does not list yet.
 */
export type ErrorCode = ProblemCode | ClientErrorCode | (string & {});

/** Base class of every error this package throws on purpose (misuse throws a plain `TypeError`). */
export class TokenkeeperClientError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  /** Whether the error carries one of `codes` (e.g. `err.is('CREDENTIAL_NOT_FOUND')`); checked as typed. */
  is(...codes: (ProblemCode | ClientErrorCode)[]): boolean {
    return (codes as string[]).includes(this.code);
  }

  /** The API's problem code of this error, or undefined when the API did not name one it lists. */
  get problemCode(): ProblemCode | undefined {
    return isProblemCode(this.code) ? this.code : undefined;
  }
}

/**
 * Why no token could be given:
 * - `auth`: the credential needs re-authentication (the provider refused its grant);
 * - `network`: tokenkeeper could not reach the provider;
 * - `pending`: the credential has no token yet;
 * - `timeout`: no refresh completed within the service's wait;
 * - `unreachable`: this process could not reach tokenkeeper (connection error, timeout, 5xx).
 */
export type TokenUnavailableReason = 'auth' | 'network' | 'pending' | 'timeout' | 'unreachable';

/**
 * No valid token can be given: none is cached, or the cached one has expired, and tokenkeeper
 * could not provide one. An expired token is never returned instead.
 */
export class TokenUnavailableError extends TokenkeeperClientError {
  constructor(
    readonly reason: TokenUnavailableReason,
    message: string,
    readonly retryAfterSeconds?: number,
    options?: { cause?: unknown },
  ) {
    super('TOKEN_UNAVAILABLE', message, options);
  }
}

/**
 * tokenkeeper refused the request itself: a missing or wrong API key (`UNAUTHENTICATED`,
 * `FORBIDDEN`), an unknown credential (`CREDENTIAL_NOT_FOUND`), a rejected parameter, or an answer
 * this client does not understand (`UNEXPECTED_RESPONSE`). Retrying will not help until the
 * configuration changes. `code` is the service's problem code when it sent one.
 */
export class TokenkeeperApiError extends TokenkeeperClientError {
  /** The problem body (RFC 9457) the service sent, when it sent JSON. */
  readonly problem: Record<string, unknown> | undefined;
  /** From the problem's `retryAfter` or the `Retry-After` header, when given. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: ErrorCode,
    readonly status: number,
    message: string,
    extra: { problem?: Record<string, unknown>; retryAfterSeconds?: number } = {},
  ) {
    super(code, message);
    this.problem = extra.problem;
    this.retryAfterSeconds = extra.retryAfterSeconds;
  }
}

/** The provider was closed with `close()`. */
export class ClientClosedError extends TokenkeeperClientError {
  constructor() {
    super('CLIENT_CLOSED', 'the token provider was closed');
  }
}
