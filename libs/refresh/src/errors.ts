import { boundText, FieldError, TokenkeeperError } from '#core';

/** Input that is well-formed but unusable; `field` names what to fix. Maps to 422. */
export class InvalidCredentialInputError extends FieldError {
  constructor(field: string, message: string) {
    super('INVALID_CREDENTIAL_INPUT', field, message);
  }
}

/** Maps to 404; also what another namespace's credential looks like. */
export class CredentialNotFoundError extends TokenkeeperError {
  constructor(id: string) {
    super('CREDENTIAL_NOT_FOUND', `no credential ${id}`);
  }
}

/** No valid token can be served. `reason` tells an auth problem from a network one. Maps to 503. */
export class TokenUnavailableError extends TokenkeeperError {
  constructor(
    readonly reason: 'auth' | 'network' | 'pending' | 'timeout',
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super('TOKEN_UNAVAILABLE', message);
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
