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
}

/** The event history does not describe a valid credential (a bug or corrupted data, never user input). */
export class EventFoldError extends TokenkeeperError {
  constructor(message: string) {
    super('EVENT_FOLD_ERROR', message);
  }
}
