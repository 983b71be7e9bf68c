/** Base of every error tokenkeeper raises on purpose; `code` is stable and safe to show. */
export class TokenkeeperError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  /**
   * What an API problem body adds for this error besides its code's status and title (looked up in
   * PROBLEM_CODES): by default the message as `detail`; errors that name a field or a reason say so.
   */
  problemFields(): Record<string, unknown> {
    return { detail: this.message };
  }
}

/** Input that names the field to fix: the problem body lists it under `errors`. */
export class FieldError extends TokenkeeperError {
  constructor(
    code: string,
    readonly field: string,
    message: string,
  ) {
    super(code, message);
  }

  override problemFields(): Record<string, unknown> {
    return {
      detail: `${this.field}: ${this.message}`,
      errors: [{ field: this.field, message: this.message }],
    };
  }
}

/** The event history does not describe a valid credential (a bug or corrupted data, never user input). */
export class EventFoldError extends TokenkeeperError {
  constructor(message: string) {
    super('EVENT_FOLD_ERROR', message);
  }
}
