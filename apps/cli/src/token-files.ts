/**
 * Existing token files turned into registration bodies for `POST /v1/credentials`.
 * Pure functions: parsing and mapping only, no I/O.
 */

export type RegistrationBody = Record<string, unknown>;

/** Settings the files may lack, given on the command line. Values in a file win over these. */
export interface ImportDefaults {
  tokenEndpoint?: string;
  issuer?: string;
  clientId?: string;
  clientSecret?: string;
  clientAuth?: string;
  labels?: Record<string, string>;
  namePrefix?: string;
}

export class TokenFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'TokenFileError';
  }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() ? v.trim() : undefined);

/**
 * `expires_at` as these files write it: epoch seconds, epoch milliseconds (any number above
 * 10^11 is taken as ms) or an ISO date. Returns an ISO string or undefined.
 */
export function parseExpiresAt(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) {
    return new Date(value > 1e11 ? value : value * 1000).toISOString();
  }
  if (typeof value === 'string' && value.trim()) {
    const v = value.trim();
    if (/^\d+(\.\d+)?$/.test(v)) return parseExpiresAt(Number(v));
    const ms = Date.parse(v);
    if (!Number.isNaN(ms)) return new Date(ms).toISOString();
  }
  return undefined;
}

/** A credential name from a file name: `github.json` → `github`. */
export function nameFromFile(file: string, prefix = ''): string {
  const base = file.split(/[\\/]/).pop() ?? file;
  return `${prefix}${base.replace(/\.json$/i, '')}`.slice(0, 200);
}

/**
 * An `.oauth-tokens`-style file (`{access_token, refresh_token, expires_at, token_type, scope,
 * client_id?, token_endpoint?}`) as an `oauth2.refresh_token` registration.
 */
export function oauthTokensRegistration(
  file: string,
  json: unknown,
  defaults: ImportDefaults,
): RegistrationBody {
  if (!json || typeof json !== 'object' || Array.isArray(json))
    throw new TokenFileError(file, 'not a JSON object');
  const f = json as Record<string, unknown>;
  const refreshToken = str(f.refresh_token);
  if (!refreshToken) {
    throw new TokenFileError(file, 'has no refresh_token, so it cannot be kept fresh; skipped');
  }
  const tokenEndpoint = str(f.token_endpoint) ?? str(f.token_uri) ?? defaults.tokenEndpoint;
  const issuer = str(f.issuer) ?? defaults.issuer;
  if (!tokenEndpoint && !issuer) {
    throw new TokenFileError(file, 'no token_endpoint in the file: pass --token-endpoint or --issuer');
  }
  const clientId = str(f.client_id) ?? defaults.clientId;
  const clientSecret = str(f.client_secret) ?? defaults.clientSecret;
  const clientAuth = defaults.clientAuth ?? (clientSecret ? 'client_secret_basic' : 'none');
  const accessToken = str(f.access_token);
  const expiresAt = parseExpiresAt(f.expires_at);
  const expiresIn =
    typeof f.expires_in === 'number' && f.expires_in > 0 ? Math.floor(f.expires_in) : undefined;
  return {
    kind: 'oauth2.refresh_token',
    name: nameFromFile(file, defaults.namePrefix),
    labels: { source: 'oauth-tokens', ...(defaults.labels ?? {}) },
    ...(tokenEndpoint ? { tokenEndpoint } : { issuer }),
    ...(clientId ? { clientId } : {}),
    clientAuth,
    ...(clientSecret ? { clientSecret } : {}),
    refreshToken,
    ...(str(f.scope) ? { scope: str(f.scope) } : {}),
    // An access token is only worth keeping together with its expiry.
    ...(accessToken && (expiresAt || expiresIn)
      ? {
          accessToken,
          ...(expiresAt ? { expiresAt } : { expiresIn }),
          ...(str(f.token_type) ? { tokenType: str(f.token_type) } : {}),
        }
      : {}),
  };
}

export const GOOGLE_TOKEN_URI = 'https://oauth2.googleapis.com/token';

/** A Google `authorized_user` file (`gcloud auth application-default login`) as a registration. */
export function googleRegistration(file: string, json: unknown, defaults: ImportDefaults): RegistrationBody {
  if (!json || typeof json !== 'object' || Array.isArray(json))
    throw new TokenFileError(file, 'not a JSON object');
  const f = json as Record<string, unknown>;
  if (f.type !== undefined && f.type !== 'authorized_user') {
    throw new TokenFileError(
      file,
      `type is ${JSON.stringify(f.type)}, not "authorized_user" (service-account keys are not refresh tokens)`,
    );
  }
  const missing = ['client_id', 'client_secret', 'refresh_token'].filter((k) => !str(f[k]));
  if (missing.length) throw new TokenFileError(file, `missing ${missing.join(', ')}`);
  return {
    kind: 'oauth2.refresh_token',
    name: nameFromFile(file, defaults.namePrefix ?? 'google-'),
    labels: { source: 'google', ...(defaults.labels ?? {}) },
    tokenEndpoint: str(f.token_uri) ?? defaults.tokenEndpoint ?? GOOGLE_TOKEN_URI,
    clientId: str(f.client_id),
    clientAuth: defaults.clientAuth ?? 'client_secret_post',
    clientSecret: str(f.client_secret),
    refreshToken: str(f.refresh_token),
    ...(str(f.scope) ? { scope: str(f.scope) } : {}),
  };
}
