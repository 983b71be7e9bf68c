import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileSourcePolicy } from '#common';
import { type GrantSettings } from '#core';
import { type GrantRequest, VaultGrantClient, type VaultSession } from '#grants';
import { grantFailureOf, grantRequest } from '../support/grant-requests.js';
import type { TestJwtIssuer } from '../support/jwt-issuer.js';
import { startSvidVault, type VaultServer, writeFileAtomically } from '../support/vault-server.js';

/** `vault.jwt_login` against the Vault-compatible test server: login, renew-self, re-login, errors. */
describe('VaultGrantClient', () => {
  let vault: VaultServer;
  let spire: TestJwtIssuer;
  let dir: string;
  let jwtFile: string;
  let client: VaultGrantClient;

  const grant = (over: Partial<NonNullable<GrantSettings['vault']>> = {}): GrantSettings => ({
    clientAuth: 'none',
    vault: { address: vault.url, mount: 'jwt', role: 'backend', jwt: { file: jwtFile }, ...over },
  });
  const request = (g: GrantSettings, vaultSession?: VaultSession): GrantRequest =>
    grantRequest({
      kind: 'vault.jwt_login',
      grant: g,
      secrets: vaultSession ? { vaultSession } : {},
      timeoutMs: 2000,
    });
  const failureOf = grantFailureOf;

  beforeAll(async () => {
    ({ spire, vault } = await startSvidVault());
    dir = mkdtempSync(join(tmpdir(), 'tk-vault-'));
    jwtFile = join(dir, 'jwt_svid.token');
    client = new VaultGrantClient({ fileSources: new FileSourcePolicy([dir]) });
    await writeFileAtomically(jwtFile, await spire.sign({ ttlSeconds: 60 }));
  });

  afterAll(async () => {
    await vault?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('logs in with the JWT from the file; the Vault token is the access token, lifetime lease_duration', async () => {
    const result = await client.execute(request(grant({ maxTtlSeconds: 20 })));
    expect(vault.lookup(result.accessToken).valid).toBe(true);
    expect(result.expiresInSeconds).toBe(8);
    expect(result.tokenType).toBe('Vault');
    const session = result.secretsPatch?.vaultSession;
    expect(session).toMatchObject({ clientToken: result.accessToken, renewable: true, leaseSeconds: 8 });
    expect(session?.maxExpiresAt).toBeGreaterThan(Date.now() + 19_000);
  });

  it('renews the same token with renew-self while a whole lease fits before the max TTL', async () => {
    const login = await client.execute(request(grant({ maxTtlSeconds: 20 })));
    const before = vault.counters;
    const renewed = await client.execute(request(grant(), login.secretsPatch!.vaultSession));
    expect(renewed.accessToken).toBe(login.accessToken);
    expect(vault.counters.renewals).toBe(before.renewals + 1);
    expect(vault.counters.logins).toBe(before.logins);
    expect(vault.lookup(renewed.accessToken).renewals).toBe(1);
  });

  it('logs in again instead of renewing when the max TTL is too close, and when Vault refuses the renewal', async () => {
    const login = await client.execute(request(grant()));
    const session = login.secretsPatch!.vaultSession!;
    const nearMax = { ...session, maxExpiresAt: Date.now() + 5_000 };
    const relogin = await client.execute(request(grant(), nearMax));
    expect(relogin.accessToken).not.toBe(login.accessToken);

    vault.revokeAll();
    const before = vault.counters;
    const afterRevoke = await client.execute(request(grant(), relogin.secretsPatch!.vaultSession));
    expect(vault.counters.renewFailures).toBe(before.renewFailures + 1);
    expect(vault.counters.logins).toBe(before.logins + 1);
    expect(vault.lookup(afterRevoke.accessToken).valid).toBe(true);
  });

  it('records a renewal Vault capped at its max TTL, so the next refresh logs in again', async () => {
    const login = await client.execute(request(grant()));
    // Pretend the login asked for a longer lease than Vault can still grant before its max TTL.
    const session = { ...login.secretsPatch!.vaultSession!, leaseSeconds: 60 };
    const renewed = await client.execute(request(grant(), session));
    expect(renewed.expiresInSeconds).toBeLessThanOrEqual(20);
    expect(renewed.secretsPatch?.vaultSession?.maxExpiresAt).toBeLessThanOrEqual(Date.now() + 20_000);
  });

  it('classifies failures: a refused JWT from a file is transient, an unknown role permanent', async () => {
    const expiredFile = join(dir, 'expired.token');
    await writeFileAtomically(expiredFile, await spire.sign({ ttlSeconds: -30 }));
    const refused = await failureOf(client.execute(request(grant({ jwt: { file: expiredFile } }))));
    expect(refused).toMatchObject({ class: 'transient', code: 'VAULT_LOGIN_REFUSED', status: 400 });
    expect(refused.message).toContain('"exp" claim timestamp check failed');

    const role = await failureOf(client.execute(request(grant({ role: 'nope' }))));
    expect(role).toMatchObject({ class: 'permanent', code: 'VAULT_ROLE_NOT_FOUND' });

    const missing = await failureOf(client.execute(request(grant({ jwt: { file: join(dir, 'absent') } }))));
    expect(missing).toMatchObject({ class: 'transient', code: 'TOKEN_SOURCE_UNAVAILABLE' });

    // Outside the allowed directory: refused before Vault is called, whether or not the file exists.
    const logins = vault.counters.logins;
    for (const file of ['/proc/self/environ', '/etc/hostname', '/etc/no-such-file']) {
      const outside = await failureOf(client.execute(request(grant({ jwt: { file } }))));
      expect(outside).toMatchObject({ class: 'permanent', code: 'FILE_SOURCE_REFUSED' });
      expect(outside.message).not.toContain(file);
    }
    expect(vault.counters.logins).toBe(logins);

    vault.failWith(503);
    try {
      const down = await failureOf(client.execute(request(grant())));
      expect(down).toMatchObject({ class: 'transient', code: 'PROVIDER_UNAVAILABLE', status: 503 });
    } finally {
      vault.failWith(undefined);
    }

    const unreachable = await failureOf(client.execute(request(grant({ address: 'http://127.0.0.1:1' }))));
    expect(unreachable).toMatchObject({ class: 'transient', code: 'NETWORK_ERROR' });
  });

  it('takes the JWT from another credential through the token reader', async () => {
    const jwt = await spire.sign({ ttlSeconds: 60 });
    const seen: string[] = [];
    const viaReader = new VaultGrantClient({
      tokens: {
        currentToken: async (namespace, id) => {
          seen.push(`${namespace}/${id}`);
          return jwt;
        },
      },
    });
    const result = await viaReader.execute(request(grant({ jwt: { credentialId: 'cred_svidsource01' } })));
    expect(seen).toEqual(['default/cred_svidsource01']);
    expect(vault.lookup(result.accessToken).valid).toBe(true);
  });
});
