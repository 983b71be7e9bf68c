import { boundText, FieldError, type ProblemCode, TokenkeeperError } from '#core';

/** Input that is well-formed but unusable; `field` names what to fix. Maps to 422. */
export class InvalidCredentialInputError extends FieldError {
  static override readonly code = 'INVALID_CREDENTIAL_INPUT' satisfies ProblemCode;
}

/** Maps to 404; also what another namespace's credential looks like. */
export class CredentialNotFoundError extends TokenkeeperError {
  static override readonly code = 'CREDENTIAL_NOT_FOUND' satisfies ProblemCode;
  constructor(id: string) {
    super(`no credential ${id}`);
  }
}

/** No valid token can be served. `reason` tells an auth problem from a network one. Maps to 503. */
export class TokenUnavailableError extends TokenkeeperError {
  static override readonly code = 'TOKEN_UNAVAILABLE' satisfies ProblemCode;
  constructor(
    readonly reason: 'auth' | 'network' | 'pending' | 'timeout',
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }

  override problemFields(): Record<string, unknown> {
    return {
      // The reason may quote a provider's words: bounded like every provider-supplied text.
      detail: boundText(this.message),
      reason: this.reason,
      ...(this.retryAfterSeconds !== undefined ? { retryAfter: this.retryAfterSeconds } : {}),
    };
  }
}
