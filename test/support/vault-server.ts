/**
 * A Vault-compatible test server (HashiCorp Vault / OpenBao are not installable here) that
 * implements exactly the two endpoints tokenkeeper's `vault.jwt_login` uses, with Vault's
 * request and response shapes:
 *
 * - `POST /v1/auth/{mount}/login {role, jwt}` → `{auth: {client_token, lease_duration, renewable, ...}}`.
 *   Accepts only a JWT that verifies against the test JWKS (jose), is currently valid (`exp`,
 *   `nbf`), and carries the role's bound audience. Unknown role → 400 `role "x" could not be
 *   found`; a bad JWT → 400 `error validating token: ...` (what Vault's JWT auth answers).
 * - `POST /v1/auth/token/renew-self` with `X-Vault-Token` → the same token with a new lease,
 *   capped at the token's max TTL (Vault adds a warning then); an unknown or expired token → 403
 *   `permission denied`.
 *
 * Tokens live `ttlSeconds` (default 8) and at most `maxTtlSeconds` (default 20) after login.
 * `lookup(token)` tells a test whether a token is valid right now, like `token/lookup-self`.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from 'jose';
import { createJwtIssuer, type TestJwtIssuer } from './jwt-issuer.js';

export interface VaultRole {
  /** `aud` the JWT must carry (Vault's `bound_audiences`). */
  boundAudience?: string;
}

export interface StartVaultServerOptions {
  /** The JWKS JWTs are verified against (the test's SPIRE stand-in). */
  jwks: JSONWebKeySet;
  /** Roles by name, on the `jwt` mount unless `mount` says otherwise. */
  roles: Record<string, VaultRole>;
  mount?: string;
  ttlSeconds?: number;
  maxTtlSeconds?: number;
  renewable?: boolean;
}

export interface VaultTokenInfo {
  valid: boolean;
  role?: string;
  issuedAt?: number;
  expiresAt?: number;
  maxExpiresAt?: number;
  renewals?: number;
}

export interface VaultCounters {
  logins: number;
  loginFailures: number;
  renewals: number;
  renewFailures: number;
}

export interface VaultServer {
  readonly url: string;
  readonly counters: VaultCounters;
  lookup(token: string): VaultTokenInfo;
  /** Answer every request with this status (e.g. 503) until called with undefined. */
  failWith(status: number | undefined): void;
  /** Forget every token (as after a Vault restart with non-persistent storage). */
  revokeAll(): void;
  stop(): Promise<void>;
}

interface IssuedToken {
  role: string;
  issuedAt: number;
  expiresAt: number;
  maxExpiresAt: number;
  renewals: number;
}

const MAX_BODY = 64 * 1024;

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error('body too large');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return {};
  const value: unknown = JSON.parse(text);
  return value && typeof value === 'object' ? (value as Record<string, unknown>) : {};
}

export async function startVaultServer(options: StartVaultServerOptions): Promise<VaultServer> {
  const mount = options.mount ?? 'jwt';
  const ttl = options.ttlSeconds ?? 8;
  const maxTtl = options.maxTtlSeconds ?? 20;
  const renewable = options.renewable ?? true;
  const jwks = createLocalJWKSet(options.jwks);
  const tokens = new Map<string, IssuedToken>();
  const counters: VaultCounters = { logins: 0, loginFailures: 0, renewals: 0, renewFailures: 0 };
  let failStatus: number | undefined;

  const auth = (token: string, t: IssuedToken, now: number, warnings: string[] = []) => ({
    request_id: randomBytes(8).toString('hex'),
    lease_id: '',
    renewable: false,
    lease_duration: 0,
    data: null,
    warnings: warnings.length ? warnings : null,
    auth: {
      client_token: token,
      accessor: randomBytes(12).toString('base64url'),
      policies: ['default', t.role],
      token_policies: ['default', t.role],
      metadata: { role: t.role },
      lease_duration: Math.max(0, Math.floor((t.expiresAt - now) / 1000)),
      renewable,
      entity_id: '',
      token_type: 'service',
      orphan: true,
    },
  });

  const server: Server = createServer(async (req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      if (failStatus !== undefined) return send(failStatus, { errors: ['test server told to fail'] });
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (req.method !== 'POST') return send(405, { errors: ['unsupported operation'] });
      const body = await readJson(req);
      const now = Date.now();
      if (path === `/v1/auth/${mount}/login`) {
        const role = typeof body.role === 'string' ? body.role : '';
        const jwt = typeof body.jwt === 'string' ? body.jwt : '';
        const roleConfig = options.roles[role];
        if (!roleConfig) {
          counters.loginFailures += 1;
          return send(400, { errors: [`role "${role}" could not be found`] });
        }
        try {
          await jwtVerify(jwt, jwks, {
            ...(roleConfig.boundAudience ? { audience: roleConfig.boundAudience } : {}),
            currentDate: new Date(now),
          });
        } catch (err) {
          counters.loginFailures += 1;
          return send(400, { errors: [`error validating token: ${(err as Error).message}`] });
        }
        const token = `hvs.${randomBytes(18).toString('base64url')}`;
        const issued: IssuedToken = {
          role,
          issuedAt: now,
          expiresAt: now + ttl * 1000,
          maxExpiresAt: now + maxTtl * 1000,
          renewals: 0,
        };
        tokens.set(token, issued);
        counters.logins += 1;
        return send(200, auth(token, issued, now));
      }
      if (path === '/v1/auth/token/renew-self') {
        const token = String(req.headers['x-vault-token'] ?? '');
        const issued = tokens.get(token);
        if (!issued || issued.expiresAt <= now || !renewable) {
          counters.renewFailures += 1;
          return send(403, { errors: ['permission denied'] });
        }
        const increment = typeof body.increment === 'string' ? Number.parseInt(body.increment, 10) : ttl;
        const wanted = now + (Number.isFinite(increment) && increment > 0 ? increment : ttl) * 1000;
        const warnings: string[] = [];
        if (wanted > issued.maxExpiresAt) {
          warnings.push(
            `TTL of "${increment}s" exceeded the effective max_ttl; TTL value is capped accordingly`,
          );
        }
        issued.expiresAt = Math.min(wanted, issued.maxExpiresAt);
        issued.renewals += 1;
        counters.renewals += 1;
        return send(200, auth(token, issued, now, warnings));
      }
      return send(404, { errors: [`no handler for route "${path}"`] });
    } catch (err) {
      send(400, { errors: [(err as Error).message] });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    url: `http://127.0.0.1:${port}`,
    get counters() {
      return { ...counters };
    },
    lookup(token: string): VaultTokenInfo {
      const t = tokens.get(token);
      if (!t) return { valid: false };
      return {
        valid: t.expiresAt > Date.now(),
        role: t.role,
        issuedAt: t.issuedAt,
        expiresAt: t.expiresAt,
        maxExpiresAt: t.maxExpiresAt,
        renewals: t.renewals,
      };
    },
    failWith(status) {
      failStatus = status;
    },
    revokeAll() {
      tokens.clear();
    },
    stop() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/**
 * Writes a file the way spiffe-helper does: to a temp file in the same directory, then renamed
 * over the target, so a reader sees the old content or the new, never half of it.
 */
/**
 * A JWT-SVID issuer (spiffe-helper's part) and a Vault that accepts its JWTs for role `backend`
 * (audience `vault`): 8 s renewable tokens, max TTL 20 s, so a test sees several TTLs go by.
 */
export async function startSvidVault(): Promise<{ spire: TestJwtIssuer; vault: VaultServer }> {
  const spire = await createJwtIssuer();
  const vault = await startVaultServer({
    jwks: spire.jwks,
    roles: { backend: { boundAudience: 'vault' } },
    ttlSeconds: 8,
    maxTtlSeconds: 20,
  });
  return { spire, vault };
}

export async function writeFileAtomically(path: string, content: string): Promise<void> {
  const { rename, writeFile } = await import('node:fs/promises');
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, content, { mode: 0o600 });
  await rename(tmp, path);
}
