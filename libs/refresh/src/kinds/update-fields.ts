import type { z } from 'zod';
import { InvalidCredentialInputError } from '../errors.js';
import { SUPPLIED_TOKEN_FIELDS } from './fields.js';
import type { KindDescriptor } from './kind-descriptor.js';

/** Fields every kind takes besides its own (the API's schemas declare them once for all kinds). */
export const EVERY_KIND_FIELDS = ['name', 'labels', 'policy', 'rotation', 'timeoutSeconds'] as const;

/**
 * A PATCH does not name the kind, so the API checks it against every kind's fields at once: a field
 * another kind takes passes, and a field several kinds take passes with the loosest bounds. Here,
 * knowing the credential's kind, a field the kind does not take is refused and each of its own
 * fields is checked with the kind's bounds. A supplied token's fields are left to the token import
 * checks (which say which kinds take one).
 */
export function checkUpdateFitsKind(
  kind: string,
  d: KindDescriptor | undefined,
  input: Record<string, unknown>,
): void {
  for (const [field, value] of Object.entries(input)) {
    if (value === undefined) continue;
    if ((EVERY_KIND_FIELDS as readonly string[]).includes(field) || SUPPLIED_TOKEN_FIELDS.includes(field))
      continue;
    // A kind this server does not know (stored by another version): its name, labels and policy
    // still change; its own fields cannot be checked.
    if (!d)
      throw new InvalidCredentialInputError(
        field,
        `this server does not know ${kind.slice(0, 80)} credentials`,
      );
    // Own fields only: `constructor` or `toString` is no field of any kind.
    const schema = Object.hasOwn(d.fields, field)
      ? (d.fields as Record<string, z.ZodType | undefined>)[field]
      : undefined;
    if (!schema) throw new InvalidCredentialInputError(field, `${d.kind} credentials do not take ${field}`);
    const checked = schema.safeParse(value);
    if (!checked.success) {
      const message = checked.error.issues[0]?.message ?? 'is not valid';
      throw new InvalidCredentialInputError(field, `${d.kind}: ${message}`);
    }
  }
}
