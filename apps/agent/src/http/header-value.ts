/** A character an HTTP header value must not carry: C0 controls (CR, LF, NUL, tab…), DEL, non-Latin-1. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const NOT_IN_HEADER = /[\u0000-\u001f\u007f\u0100-\uffff]/;

/** A value that cannot go into an HTTP header. The message names the header, never the value. */
export class HeaderValueError extends Error {
  readonly code = 'AGENT_HEADER_VALUE_INVALID';
}

export function isValidHeaderValue(value: string): boolean {
  return !NOT_IN_HEADER.test(value);
}

/**
 * Refuses a header value with a control character before any HTTP client sees it: a CR/LF would
 * split the request, and the clients quote the offending value in their own error messages.
 * `what` names the header and where the value came from (the setting or the credential).
 */
export function assertHeaderValue(value: string, what: string): string {
  if (!isValidHeaderValue(value))
    throw new HeaderValueError(
      `${what} holds a character not allowed in an HTTP header (CR, LF, NUL or another control character); nothing was sent`,
    );
  return value;
}
