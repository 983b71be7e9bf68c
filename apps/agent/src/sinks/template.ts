import type { TokenSnapshot } from './token-snapshot.js';

/**
 * `{{name}}` placeholders, filled from the token. Plain substitution, no expressions: a template
 * can never run code, and an unknown name is a configuration error caught at start-up.
 */
export const TEMPLATE_VARIABLES = [
  'access_token',
  'token_type',
  'token_version',
  'expires_at',
  'expires_at_iso',
  'expires_in',
  'scope',
  'credential_id',
] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_.]+)\s*\}\}/g;
const KNOWN = new Set<string>(TEMPLATE_VARIABLES);

/** Every placeholder name used in `text`. */
export function usedPlaceholders(text: string): string[] {
  return [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1]!))];
}

/** Names used in `text` that are not template variables (empty when the template is valid). */
export function unknownPlaceholders(text: string): string[] {
  return usedPlaceholders(text).filter((name) => !KNOWN.has(name));
}

export function templateValues(token: TokenSnapshot, now: number): Record<TemplateVariable, string> {
  return {
    access_token: token.accessToken,
    token_type: token.tokenType,
    token_version: String(token.tokenVersion),
    expires_at: String(Math.floor(token.expiresAt / 1000)),
    expires_at_iso: new Date(token.expiresAt).toISOString(),
    expires_in: String(Math.max(0, Math.floor((token.expiresAt - now) / 1000))),
    scope: token.scope ?? '',
    credential_id: token.credentialId,
  };
}

/** Replaces every `{{name}}` in `text`. */
export function renderTemplate(text: string, token: TokenSnapshot, now: number): string {
  const values: Record<string, string> = templateValues(token, now);
  return text.replace(PLACEHOLDER, (whole, name: string) =>
    Object.hasOwn(values, name) ? values[name]! : whole,
  );
}

/** Renders every string inside a JSON-like value (object keys are left alone). */
export function renderJsonTemplate(value: unknown, token: TokenSnapshot, now: number): unknown {
  if (typeof value === 'string') return renderTemplate(value, token, now);
  if (Array.isArray(value)) return value.map((v) => renderJsonTemplate(v, token, now));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderJsonTemplate(v, token, now)]));
  }
  return value;
}

/** Every string inside a JSON-like value, for validation. */
export function stringsIn(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringsIn);
  if (value && typeof value === 'object') return Object.values(value).flatMap(stringsIn);
  return [];
}
