import { boundText, FieldError, NotFoundError, type ProblemCode, TokenkeeperError } from '#core';

/** Input that is well-formed but unusable; `field` names what to fix. Maps to 422. */
export class InvalidCredentialInputError extends FieldError {
  static override readonly code = 'INVALID_CREDENTIAL_INPUT' satisfies ProblemCode;
}

export class CredentialNotFoundError extends NotFoundError {
  static override readonly code = 'CREDENTIAL_NOT_FOUND' satisfies ProblemCode;
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
