import { type ResolvedRotation, type RotationSettings, resolveRotationOver } from '#core';
import { InvalidCredentialInputError } from '../errors.js';
import { SUPPLIED_TOKEN_FIELDS } from './fields.js';
import type { GrantInput } from './grant-input.js';
import { type KindDescriptor, SHARED_SECRET_FIELDS } from './kind-descriptor.js';
import { EVERY_KIND_FIELDS } from './update-fields.js';

/**
 * Fields every kind takes that are not grant settings (besides secrets and a supplied token): all
 * of them but the grant's timeout.
 */
const SETTINGS_OF_EVERY_KIND = EVERY_KIND_FIELDS.filter((f) => f !== 'timeoutSeconds');

/**
 * A list of kinds and what derives from it: the input fields that are secrets, that change the
 * grant, that bind the secrets' destination and that name token files. The registry's is the
 * catalog's (`KINDS`); a test may build one over a catalog of its own.
 */
export class KindSet {
  /** The shared secret fields and every kind's own, each once. */
  readonly secretFields: readonly string[];
  /** Input fields that change a credential's grant settings: every kind's, but secrets and tokens. */
  readonly grantInputFields: readonly (keyof GrantInput)[];
  /**
   * Input fields that feed the destination description (destination-binding.ts): all grant fields
   * but those a kind says change what is asked for rather than where it is sent.
   */
  readonly boundInputFields: readonly (keyof GrantInput)[];
  /** Fields naming a token file, checked against the file source policy. */
  readonly fileSourceFields: readonly (keyof GrantInput)[];
  private readonly byKind: ReadonlyMap<string, KindDescriptor>;

  constructor(readonly descriptors: readonly KindDescriptor[]) {
    this.byKind = new Map(descriptors.map((d) => [d.kind, d]));
    this.secretFields = [
      ...new Set<string>([...SHARED_SECRET_FIELDS, ...descriptors.flatMap((d) => d.secrets)]),
    ];
    const notGrant = new Set<string>([
      ...SETTINGS_OF_EVERY_KIND,
      ...this.secretFields,
      ...SUPPLIED_TOKEN_FIELDS,
    ]);
    this.grantInputFields = [
      ...new Set(descriptors.flatMap((d) => Object.keys(d.fields)).filter((f) => !notGrant.has(f))),
      'timeoutSeconds',
    ] as (keyof GrantInput)[];
    const unbound = new Set<string>(['timeoutSeconds', ...descriptors.flatMap((d) => d.unboundFields ?? [])]);
    this.boundInputFields = this.grantInputFields.filter((f) => !unbound.has(f));
    this.fileSourceFields = [...new Set(descriptors.flatMap((d) => d.fileSourceFields ?? []))];
  }

  /** The descriptor of a kind, if the set holds it. */
  find(kind: string): KindDescriptor | undefined {
    return this.byKind.get(kind);
  }

  /** The descriptor of a kind the API took (its schema names every kind). */
  of(kind: string): KindDescriptor {
    const d = this.byKind.get(kind);
    if (!d) throw new InvalidCredentialInputError('kind', `${kind.slice(0, 80)} is not a credential kind`);
    return d;
  }

  /**
   * The rotation behaviour a refresh assumes: explicit settings win, then the provider's defaults,
   * then the kind's (`strict` for `oauth2.refresh_token`: a rotated token whose answer is lost may
   * be gone; `none` for kinds that present nothing a provider consumes, and for a kind not held).
   */
  resolveRotation(kind: string, settings: RotationSettings | undefined): ResolvedRotation {
    return resolveRotationOver(this.byKind.get(kind)?.rotation ?? 'none', settings);
  }

  /** The secret fields `input` gives (the API bounded each with the field's `secret()` schema). */
  secretsIn(input: object): Record<string, string> {
    const given: Record<string, string> = {};
    for (const f of this.secretFields) {
      const v: unknown = (input as Record<string, unknown>)[f];
      if (typeof v === 'string') given[f] = v;
    }
    return given;
  }
}
