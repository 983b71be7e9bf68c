/**
 * What re-presenting a refresh token whose answer was lost does at the provider:
 * - `none`: the provider does not rotate (or keeps the old token valid): retry as usual.
 * - `grace`: the provider accepts the consumed token again within `graceSeconds` of its use.
 * - `strict`: re-presenting a consumed token fails (and usually revokes the grant).
 */
export const ROTATION_MODES = ['none', 'strict', 'grace'] as const;
export type RotationMode = (typeof ROTATION_MODES)[number];

export const ROTATION_PROVIDERS = [
  'okta',
  'auth0',
  'atlassian',
  'xero',
  'cognito',
  'keycloak',
  'entra',
  'google',
  'oidc-provider',
  'generic',
] as const;
export type RotationProvider = (typeof ROTATION_PROVIDERS)[number];

/** A credential's rotation settings as registered; absent fields come from the provider's defaults. */
export interface RotationSettings {
  mode?: RotationMode;
  graceSeconds?: number;
  provider?: RotationProvider;
}

export interface ResolvedRotation {
  mode: RotationMode;
  /** 0 unless `mode` is `grace`. */
  graceSeconds: number;
}

/**
 * Documented reuse behaviour per provider (Dec 2026). A provider whose grace is configurable gets
 * its default (Okta's 30 s leeway); one that offers a grace only when configured (Auth0's reuse
 * interval, Cognito's retry grace period, Keycloak's reuse count) is strict unless told otherwise.
 */
const PROVIDER_DEFAULTS: Record<RotationProvider, ResolvedRotation> = {
  okta: { mode: 'grace', graceSeconds: 30 },
  auth0: { mode: 'strict', graceSeconds: 0 },
  atlassian: { mode: 'grace', graceSeconds: 600 },
  xero: { mode: 'grace', graceSeconds: 1800 },
  cognito: { mode: 'strict', graceSeconds: 0 },
  keycloak: { mode: 'strict', graceSeconds: 0 },
  entra: { mode: 'none', graceSeconds: 0 },
  google: { mode: 'none', graceSeconds: 0 },
  'oidc-provider': { mode: 'strict', graceSeconds: 0 },
  generic: { mode: 'strict', graceSeconds: 0 },
};

/** Longest grace period any provider documents (Xero, 30 min). */
export const MAX_GRACE_SECONDS = 1800;

/**
 * The rotation behaviour a refresh assumes: explicit settings win, then the provider's defaults,
 * then `kindDefault`, the mode of the credential's kind (see `resolveRotation` in `#kinds`).
 */
export function resolveRotationOver(
  kindDefault: RotationMode,
  settings: RotationSettings | undefined,
): ResolvedRotation {
  const base: ResolvedRotation = settings?.provider
    ? PROVIDER_DEFAULTS[settings.provider]
    : { mode: kindDefault, graceSeconds: 0 };
  const mode = settings?.mode ?? base.mode;
  if (mode !== 'grace') return { mode, graceSeconds: 0 };
  const graceSeconds = settings?.graceSeconds ?? (base.mode === 'grace' ? base.graceSeconds : 0);
  // A grace of zero seconds is strict.
  return graceSeconds > 0 ? { mode, graceSeconds } : { mode: 'strict', graceSeconds: 0 };
}
