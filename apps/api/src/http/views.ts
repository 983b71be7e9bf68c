/** A time of the API's answers: epoch milliseconds as ISO 8601 (absent stays absent). */
export function isoTime(ms: number): string;
export function isoTime(ms: number | undefined): string | undefined;
export function isoTime(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

/**
 * The check of one resource's ids: an id of the wrong shape is answered as not found (as an id of
 * another namespace is), echoing at most 80 characters of it.
 */
export function idCheck(pattern: RegExp, notFound: (id: string) => Error): (id: string) => string {
  return (id) => {
    if (!pattern.test(id)) throw notFound(id.slice(0, 80));
    return id;
  };
}
