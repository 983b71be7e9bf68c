/**
 * Base of every error tokenkeeper raises on purpose. Each class names its code once, as `static code`;
 * every instance carries it as `code`. The codes the API answers with are rows of PROBLEM_CODES
 * (which gives their status and title); any other code stays inside the services and the API
 * answers it as INTERNAL.
 */
export abstract class TokenkeeperError extends Error {
  /** The code of every error of this class; a subclass sets its own. */
  static readonly code: string = 'INTERNAL';
  /** Stable and safe to show: the `static code` of the error's class. */
  readonly code: string;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = (new.target as typeof TokenkeeperError).code;
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
export abstract class FieldError extends TokenkeeperError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }

  override problemFields(): Record<string, unknown> {
    return {
      detail: `${this.field}: ${this.message}`,
      errors: [{ field: this.field, message: this.message }],
    };
  }
}

/**
 * An id that names nothing the caller may see (another namespace's resource looks the same): the
 * message names the thing after the class's code, `CREDENTIAL_NOT_FOUND` → `no credential <id>`.
 */
export abstract class NotFoundError extends TokenkeeperError {
  constructor(readonly id: string) {
    const { code } = new.target as unknown as typeof TokenkeeperError;
    super(
      `no ${code
        .replace(/_NOT_FOUND$/, '')
        .toLowerCase()
        .replaceAll('_', ' ')} ${id}`,
    );
  }
}

/** The event history does not describe a valid credential (a bug or corrupted data, never user input). */
export class EventFoldError extends TokenkeeperError {
  static override readonly code = 'EVENT_FOLD_ERROR';
}
