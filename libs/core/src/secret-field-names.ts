/**
 * Field names a credential kind declares as its own stored secrets (the kind catalog registers
 * them as it loads). The logger redacts them like its own list of secret names, also in loggers
 * created before they were registered.
 */
const names: string[] = [];

/** Registers secret field names; each is redacted wherever it appears in a log object. */
export function addSecretFieldNames(fields: Iterable<string>): void {
  for (const f of fields) if (!names.includes(f)) names.push(f);
}

/** Every registered secret field name, in registration order (only ever grows). */
export function secretFieldNames(): readonly string[] {
  return names;
}
