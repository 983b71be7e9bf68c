import {
  type CredentialKind,
  type CredentialProjection,
  FieldError,
  type GrantSettings,
  type JwtTemplate,
  type ProblemCode,
  type TokenSourceSettings,
} from '#core';
import { type CredentialSecrets, GrantConfigurationError } from '#grants';
import type { KindSet } from './kinds/kind-set.js';
import { KINDS } from './kinds/registry.js';

/**
 * Version of the canonical destination description. A new bound field gets a new version, and
 * `describeDestination` keeps producing the old versions, so ciphertexts written before an
 * upgrade still verify.
 */
export const DESTINATION_VERSION = 1;

/**
 * What a credential's secrets ciphertext holds: the secrets, and the canonical description of the
 * destination they were stored for. The ciphertext is AEAD under the key ring and bound to the
 * credential and field by its header, so the description is as authentic as the secrets.
 */
export interface StoredSecrets extends CredentialSecrets {
  destination?: string;
}

/**
 * Everything that decides where a credential's secrets (or the tokens it reads, or the JWTs it
 * signs) go: endpoints and client authentication, the token sources, and the fields of a signed
 * JWT that say whom it is for. Scope, timeouts and token types are left out: they change what is
 * asked for, not where it is sent. `kinds` says which of a kind's own settings are unbound.
 */
export function describeDestination(
  kind: CredentialKind,
  grant: GrantSettings,
  kinds: KindSet = KINDS,
): string {
  const vault = grant.vault;
  return canonicalJson({
    v: DESTINATION_VERSION,
    kind,
    tokenEndpoint: grant.tokenEndpoint,
    issuer: grant.issuer,
    clientAuth: grant.clientAuth,
    clientId: grant.clientId,
    clientAssertionAlg: grant.clientAssertionAlg,
    audience: grant.audience,
    resource: grant.resource,
    mint: grant.mint && signedFor(grant.mint),
    assertion: grant.assertion && signedFor(grant.assertion),
    tokenExchangeSubject: grant.tokenExchange && source(grant.tokenExchange.subject),
    vault: vault && {
      address: vault.address,
      mount: vault.mount,
      role: vault.role,
      namespace: vault.vaultNamespace,
      jwt: source(vault.jwt),
    },
    params: grant.params && boundParams(kinds, kind, grant.params),
  });
}

/**
 * A kind's own settings (`params`, keyed by its input field names) are bound, but those its
 * descriptor names as unbound. A kind `kinds` does not hold binds all of them. No shipped kind
 * sets `params`, so their descriptions are unchanged (the member is left out when undefined, and
 * when none is bound: setting an unbound one moves nothing).
 */
function boundParams(
  kinds: KindSet,
  kind: CredentialKind,
  params: Record<string, string>,
): Record<string, string> | undefined {
  const unbound = new Set<string>(kinds.find(kind)?.unboundFields ?? []);
  const bound = Object.entries(params).filter(([field]) => !unbound.has(field));
  return bound.length > 0 ? Object.fromEntries(bound) : undefined;
}

/** The fields of a JWT template that decide whom a signed JWT is for (all of them but none). */
function signedFor(t: JwtTemplate): Record<string, unknown> {
  return {
    issuer: t.issuer,
    subject: t.subject,
    audience: t.audience,
    claims: t.claims,
    ttlSeconds: t.ttlSeconds,
    alg: t.alg,
    kid: t.kid,
  };
}

function source(s: TokenSourceSettings): Record<string, string> {
  return 'file' in s ? { file: s.file } : { credentialId: s.credentialId };
}

/** JSON with object keys sorted at every depth and undefined members left out: one text per value. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sorted(value));
}

function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sorted(v);
    }
    return out;
  }
  return value;
}

/** The secrets with the destination of `kind` + `grant` bound in, ready to encrypt. */
export function bindSecrets(
  secrets: CredentialSecrets,
  kind: CredentialKind,
  grant: GrantSettings,
  kinds: KindSet = KINDS,
): StoredSecrets {
  const { destination: _previous, ...rest } = secrets as StoredSecrets;
  return { ...rest, destination: describeDestination(kind, grant, kinds) };
}

/** The stored grant no longer matches the destination its secrets were stored for. Permanent. */
export class DestinationMismatchError extends GrantConfigurationError {
  static override readonly code = 'DESTINATION_MISMATCH';
  constructor(fields: string[]) {
    super(
      `the credential's destination (${fields.join(', ')}) no longer matches what its secrets were stored for: nothing was sent; check these settings, then re-supply the secrets (PATCH) to bind them to them`,
    );
  }
}

/** Secrets decrypted from a ciphertext written before destinations were bound. */
const legacyBound = new WeakSet<object>();

/** Called once per credential with a legacy ciphertext (per process); the worker counts and logs it. */
let onLegacy: ((credentialId: string) => void) | undefined;
const reported = new Set<string>();
export function onLegacySecrets(listener: ((credentialId: string) => void) | undefined): void {
  onLegacy = listener;
}

/**
 * Checks decrypted secrets against the credential's current settings, before anything is sent.
 * Throws DestinationMismatchError when they differ, or when the ciphertext is missing altogether
 * (every credential has one since registration). A ciphertext written before destinations were
 * bound (no `destination`) is trusted once: the returned secrets carry the current destination,
 * and `bindsOnPersist` tells the refresh to store them with it.
 */
export function verifyDestination(
  p: Pick<CredentialProjection, 'id' | 'kind' | 'grant'>,
  ciphertext: string | undefined,
  secrets: StoredSecrets,
  kinds: KindSet = KINDS,
): StoredSecrets {
  if (!ciphertext) throw new DestinationMismatchError(['no secrets ciphertext']);
  const current = describeDestination(p.kind, p.grant, kinds);
  if (secrets.destination === undefined) {
    const bound = { ...secrets, destination: current };
    legacyBound.add(bound);
    // A refresh that fails before persisting meets the same ciphertext again: report it once.
    if (!reported.has(p.id) && reported.size < 100_000) {
      reported.add(p.id);
      onLegacy?.(p.id);
    }
    return bound;
  }
  if (secrets.destination !== current)
    throw new DestinationMismatchError(differingFields(secrets.destination, current));
  return secrets;
}

/** Whether these secrets came from a legacy ciphertext and must be stored again, bound. */
export function bindsOnPersist(secrets: CredentialSecrets): boolean {
  return legacyBound.has(secrets);
}

/** Top-level fields of two descriptions that differ (names only: values may be private). */
export function differingFields(stored: string, current: string): string[] {
  let a: Record<string, unknown>;
  try {
    a = JSON.parse(stored) as Record<string, unknown>;
  } catch {
    return ['unreadable binding'];
  }
  const b = JSON.parse(current) as Record<string, unknown>;
  if (a.v !== b.v) return [`binding version ${String(a.v)}`];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  const differ = keys.filter((k) => canonicalJson(a[k]) !== canonicalJson(b[k]));
  return differ.length > 0 ? differ : ['binding'];
}

/** Members of these description fields are compared one by one (see `movedLeaves`). */
const NESTED = new Set(['mint', 'assertion', 'vault', 'params']);

/** The description's fields (and the members of its JWT templates and Vault settings), as text. */
function leaves(description: string): Map<string, string> {
  const out = new Map<string, string>();
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(description) as Record<string, unknown>;
  } catch {
    out.set('binding', description);
    return out;
  }
  for (const [key, value] of Object.entries(parsed)) {
    if (NESTED.has(key) && value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [member, v] of Object.entries(value)) out.set(`${key}.${member}`, canonicalJson(v));
    } else {
      out.set(key, canonicalJson(value));
    }
  }
  return out;
}

/**
 * The fields (`vault.address`, `tokenEndpoint`, …) in which `next` differs from `bound`, the
 * description the secrets were stored for. Without a bound description (a missing or unreadable
 * ciphertext) every field but the version and kind counts as moved.
 */
export function movedLeaves(bound: string | undefined, next: string): string[] {
  const b = leaves(next);
  if (bound === undefined) return [...b.keys()].filter((k) => k !== 'v' && k !== 'kind').sort();
  const a = leaves(bound);
  return [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k)).sort();
}

/** Naming another credential as a token source needs a key that may read tokens. Maps to 403. */
export class TokenSourceForbiddenError extends FieldError {
  static override readonly code = 'TOKEN_SOURCE_FORBIDDEN' satisfies ProblemCode;
  constructor(field: string) {
    super(field, "using another credential's token needs an API key with the token:read scope");
  }
}
