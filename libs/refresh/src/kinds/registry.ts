import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { z } from 'zod';
import { addSecretFieldNames, type ResolvedRotation, type RotationSettings } from '#core';
import { SUPPLIED_TOKEN_FIELDS } from './fields.js';
import { type CliFlag, type KindDescriptor, SHARED_SECRET_FIELDS } from './kind-descriptor.js';
import { KindSet } from './kind-set.js';
import { EVERY_KIND_FIELDS } from './update-fields.js';

/** Where the descriptor files are: one file per kind, each default-exporting its descriptor. */
export const CATALOG_DIR = fileURLToPath(new URL('./catalog/', import.meta.url));

/** Run from source (vitest, tsx) the catalog holds `.ts` files; built, `.js` files. */
const FROM_SOURCE = import.meta.url.endsWith('.ts');

function isDescriptorFile(name: string): boolean {
  if (FROM_SOURCE) return name.endsWith('.ts') && !name.endsWith('.d.ts') && !name.endsWith('.test.ts');
  return name.endsWith('.js') && !name.endsWith('.test.js');
}

/**
 * Modules that load the catalog themselves: a descriptor importing one would wait on its own
 * loading forever (the process exits 13 naming no file). Descriptors import the helpers instead.
 */
const LOADS_THE_CATALOG = /^#(kinds|refresh)$|(^|\/)(index|registry|grant-client-registry)\.[jt]s$/;

function catalogImportOf(source: string): string | undefined {
  for (const [, specifier] of source.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g))
    if (specifier && LOADS_THE_CATALOG.test(specifier)) return specifier;
  return undefined;
}

/** Why a default export is not a descriptor, or undefined when it is one. */
function notADescriptor(d: unknown): string | undefined {
  if (typeof d !== 'object' || d === null)
    return 'no default export of a kind descriptor (defineKind({...}))';
  const v = d as Partial<Record<keyof KindDescriptor, unknown>>;
  if (typeof v.kind !== 'string' || v.kind === '') return 'the descriptor has no `kind` name';
  if (typeof v.order !== 'number' || !Number.isFinite(v.order)) return 'the descriptor has no `order` number';
  if (typeof v.fields !== 'object' || v.fields === null) return 'the descriptor has no `fields`';
  if (!Array.isArray(v.secrets)) return 'the descriptor has no `secrets` list';
  if (typeof v.settings !== 'function' || typeof v.checkSecrets !== 'function')
    return 'the descriptor has no `settings` / `checkSecrets` functions';
  const cli = v.cli as KindDescriptor['cli'] | undefined;
  if (!Array.isArray(cli?.flags) || typeof cli.reauth !== 'string')
    return 'the descriptor has no `cli` flags and hint';
  return ownSecretsProblem(d as KindDescriptor);
}

/** A kind's own secret name: a plain identifier (log redaction paths are built from it). */
const SECRET_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
/** Names with another meaning in the stored secrets or in every kind's input. */
const NOT_SECRET_NAMES = new Set<string>([
  'vaultSession',
  'destination',
  ...EVERY_KIND_FIELDS,
  ...SUPPLIED_TOKEN_FIELDS,
]);
/** Longer than the `secret()` helper allows: a kind's own secret must refuse it. */
const TOO_LONG = 'x'.repeat(16_385);

/** The secrets a kind holds besides the shared ones. */
function ownSecretsOf(d: KindDescriptor): string[] {
  return d.secrets.filter((s) => !(SHARED_SECRET_FIELDS as readonly string[]).includes(s));
}

/** Why a kind's own secrets cannot be stored, or undefined when they can. */
function ownSecretsProblem(d: KindDescriptor): string | undefined {
  for (const name of ownSecretsOf(d)) {
    if (typeof name !== 'string' || !SECRET_NAME.test(name) || NOT_SECRET_NAMES.has(name))
      return `secret ${String(name).slice(0, 80)} is not a name a secret may have`;
    const schema = Object.hasOwn(d.fields, name) ? (d.fields[name] as z.ZodType | undefined) : undefined;
    if (!schema) return `secret ${name} is not declared in \`fields\` (declare it with secret('${name}'))`;
    if (!schema.safeParse('x').success || schema.safeParse(TOO_LONG).success)
      return `secret ${name} must be a bounded string: declare it with secret('${name}')`;
  }
  return undefined;
}

/**
 * The descriptors of the files of a catalog directory, ordered by `order` then kind name. A file
 * that is not a descriptor, or a kind named twice, fails with the file's name.
 */
export async function loadKinds(dir: string): Promise<KindDescriptor[]> {
  const files = readdirSync(dir).filter(isDescriptorFile).sort();
  const loaded = await Promise.all(
    files.map(async (name) => {
      const file = join(dir, name);
      // A linked file is imported from where it is, so its own imports resolve.
      const real = realpathSync(file);
      const loop = catalogImportOf(readFileSync(real, 'utf8'));
      if (loop) {
        throw new Error(
          `credential kind catalog: ${file}: imports ${loop}, which loads the catalog; import the helpers (../kind-descriptor.js, ../fields.js, ...)`,
        );
      }
      let d: unknown;
      try {
        d = ((await import(pathToFileURL(real).href)) as { default?: unknown }).default;
      } catch (err) {
        throw new Error(`credential kind catalog: ${file}: ${(err as Error).message}`, { cause: err });
      }
      const why = notADescriptor(d);
      if (why) throw new Error(`credential kind catalog: ${file}: ${why}`);
      return { file, descriptor: d as KindDescriptor };
    }),
  );
  const fileOf = new Map<string, string>();
  for (const { file, descriptor } of loaded) {
    const other = fileOf.get(descriptor.kind);
    if (other) {
      throw new Error(
        `credential kind catalog: ${file}: kind ${descriptor.kind} is already defined by ${basename(other)}`,
      );
    }
    fileOf.set(descriptor.kind, file);
  }
  // A kind's own secret must be a secret wherever it is a field: it is kept out of every kind's settings.
  for (const { file, descriptor } of loaded) {
    for (const name of ownSecretsOf(descriptor)) {
      const other = loaded.find(
        (l) => Object.hasOwn(l.descriptor.fields, name) && !l.descriptor.secrets.includes(name),
      );
      if (other) {
        throw new Error(
          `credential kind catalog: ${file}: secret ${name} is a setting of ${other.descriptor.kind} (${basename(other.file)})`,
        );
      }
    }
  }
  addSecretFieldNames(loaded.flatMap((l) => ownSecretsOf(l.descriptor)));
  return loaded
    .map((l) => l.descriptor)
    .sort((a, b) => a.order - b.order || (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0));
}

/**
 * Every credential kind, in the order the API schema, the OpenAPI document and the CLI list them:
 * the descriptor files of `catalog/`. A new kind is one new file there.
 */
export const KIND_DESCRIPTORS: readonly KindDescriptor[] = await loadKinds(CATALOG_DIR);

/** Credential kinds tokenkeeper knows how to keep fresh. */
export const CREDENTIAL_KINDS: readonly string[] = KIND_DESCRIPTORS.map((d) => d.kind);

/** The catalog's kinds and what derives from them (secret, grant and bound input fields). */
export const KINDS = new KindSet(KIND_DESCRIPTORS);

/** Every secret field a request may set: the shared ones and each kind's own. Values are never echoed. */
export const SECRET_FIELDS: readonly string[] = KINDS.secretFields;

/** The descriptor of a kind, if tokenkeeper knows it. */
export function findKind(kind: string): KindDescriptor | undefined {
  return KINDS.find(kind);
}

/** The descriptor of a kind the API took (its schema names every kind). */
export function kindOf(kind: string): KindDescriptor {
  return KINDS.of(kind);
}

/** The rotation behaviour a refresh of a catalog kind assumes (see `KindSet.resolveRotation`). */
export function resolveRotation(kind: string, settings: RotationSettings | undefined): ResolvedRotation {
  return KINDS.resolveRotation(kind, settings);
}

/** The `creds add` / `creds update` flags of these kinds, each flag once, in the kinds' order. */
export function cliFlagsOf(descriptors: readonly KindDescriptor[] = KIND_DESCRIPTORS): CliFlag[] {
  const byFlag = new Map<string, CliFlag>();
  for (const d of descriptors) for (const f of d.cli.flags) if (!byFlag.has(f.flag)) byFlag.set(f.flag, f);
  return [...byFlag.values()];
}
