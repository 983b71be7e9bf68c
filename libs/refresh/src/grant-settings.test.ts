import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FileSourcePolicy } from '#common';
import { InvalidCredentialInputError } from './errors.js';
import { buildGrantSettings, checkSecrets, sourceCredentialId } from './grant-settings.js';

const ctx = { grantTimeoutMs: 1000, fileSources: new FileSourcePolicy(['/run']) };
const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .privateKey.export({ format: 'pem', type: 'pkcs8' })
  .toString();

async function fieldOf(p: Promise<unknown>): Promise<string | undefined> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InvalidCredentialInputError);
  return (err as InvalidCredentialInputError).field;
}

describe('buildGrantSettings', () => {
  it('needs no token endpoint for jwt.mint, vault.jwt_login and static', async () => {
    const mint = await buildGrantSettings(
      'jwt.mint',
      { ttlSeconds: 1200, issuer: 'neuron', claims: { uid: 1 } },
      undefined,
      ctx,
    );
    expect(mint).toEqual({
      clientAuth: 'none',
      mint: { ttlSeconds: 1200, issuer: 'neuron', claims: { uid: 1 } },
    });
    const vault = await buildGrantSettings(
      'vault.jwt_login',
      { vaultAddr: 'https://vault.example:8200/', role: 'backend', jwtFile: '/run/spire/jwt_svid.token' },
      undefined,
      ctx,
    );
    expect(vault.vault).toEqual({
      address: 'https://vault.example:8200',
      mount: 'jwt',
      role: 'backend',
      jwt: { file: '/run/spire/jwt_svid.token' },
    });
    expect(await buildGrantSettings('static', {}, undefined, ctx)).toEqual({ clientAuth: 'none' });
    expect(await fieldOf(buildGrantSettings('oauth2.jwt_bearer', { clientId: 'x' }, undefined, ctx))).toBe(
      'tokenEndpoint',
    );
  });

  it('names the missing or conflicting field per kind', async () => {
    expect(await fieldOf(buildGrantSettings('jwt.mint', {}, undefined, ctx))).toBe('ttlSeconds');
    expect(
      await fieldOf(buildGrantSettings('vault.jwt_login', { role: 'r', jwtFile: '/run/f' }, undefined, ctx)),
    ).toBe('vaultAddr');
    expect(
      await fieldOf(
        buildGrantSettings(
          'vault.jwt_login',
          { vaultAddr: 'https://v', role: 'r', jwtFile: '/run/f', jwtCredentialId: 'cred_x' },
          undefined,
          ctx,
        ),
      ),
    ).toBe('jwtFile');
    const te = { tokenEndpoint: 'https://idp.example/token', clientId: 'c' };
    expect(await fieldOf(buildGrantSettings('oauth2.token_exchange', te, undefined, ctx))).toBe(
      'subjectTokenFile',
    );
    expect(
      await fieldOf(
        buildGrantSettings(
          'oauth2.client_credentials',
          { tokenEndpoint: te.tokenEndpoint, clientAuth: 'private_key_jwt' },
          undefined,
          ctx,
        ),
      ),
    ).toBe('clientId');
  });

  it('fills RFC 7523 and 8693 defaults and keeps settings across an update', async () => {
    const bearer = await buildGrantSettings(
      'oauth2.jwt_bearer',
      { tokenEndpoint: 'https://idp.example/token', clientId: 'svc', subject: 'user-7' },
      undefined,
      ctx,
    );
    expect(bearer.assertion).toEqual({ ttlSeconds: 300, issuer: 'svc', subject: 'user-7' });
    const exchange = await buildGrantSettings(
      'oauth2.token_exchange',
      { tokenEndpoint: 'https://idp.example/token', subjectCredentialId: 'cred_source00001' },
      undefined,
      ctx,
    );
    expect(exchange.tokenExchange).toEqual({
      subject: { credentialId: 'cred_source00001' },
      subjectTokenType: 'urn:ietf:params:oauth:token-type:access_token',
    });
    expect(sourceCredentialId(exchange)).toEqual({ id: 'cred_source00001', field: 'subjectCredentialId' });
    const updated = await buildGrantSettings(
      'oauth2.token_exchange',
      { subjectTokenFile: '/run/token' },
      exchange,
      ctx,
    );
    expect(updated.tokenExchange?.subject).toEqual({ file: '/run/token' });
    expect(updated.tokenEndpoint).toBe('https://idp.example/token');
  });
});

describe('file token sources', () => {
  const messageOf = async (p: Promise<unknown>) => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InvalidCredentialInputError);
    const { field, message } = err as InvalidCredentialInputError;
    return { field, message };
  };
  const vault = (jwtFile: string) => ({ vaultAddr: 'https://vault.example', role: 'r', jwtFile });

  it('are refused, naming the field, when the server allows no directory', async () => {
    const none = { grantTimeoutMs: 1000 };
    expect(await messageOf(buildGrantSettings('vault.jwt_login', vault('/run/f'), undefined, none))).toEqual({
      field: 'jwtFile',
      message: 'file token sources are disabled on this server: the operator sets TK_FILE_SOURCE_DIRS',
    });
  });

  it('are refused outside the allowed directories before anything is called (discovery included)', async () => {
    const calls: string[] = [];
    const recording = {
      ...ctx,
      fetch: (async (url: string) => {
        calls.push(String(url));
        return new Response('{}');
      }) as unknown as typeof fetch,
    };
    const exchange = { issuer: 'https://idp.example', clientId: 'c', subjectTokenFile: '/proc/self/environ' };
    const refused = await messageOf(
      buildGrantSettings('oauth2.token_exchange', exchange, undefined, recording),
    );
    expect(refused.field).toBe('subjectTokenFile');
    expect(calls).toEqual([]);
    for (const path of [
      '/etc/hostname',
      '/run/../etc/hostname',
      '/run',
      '/runx/f',
      '/run//f',
      '/run/f\u0000',
    ]) {
      const answer = await messageOf(buildGrantSettings('vault.jwt_login', vault(path), undefined, ctx));
      expect(answer.field).toBe('jwtFile');
      expect(answer.message).not.toContain(path);
    }
  });
});

describe('checkSecrets', () => {
  it('asks for a usable privateKey where the credential signs', async () => {
    const mint = { clientAuth: 'none' as const, mint: { ttlSeconds: 60 } };
    expect(await fieldOf(checkSecrets('jwt.mint', mint, {}))).toBe('privateKey');
    expect(await fieldOf(checkSecrets('jwt.mint', mint, { privateKey: 'garbage' }))).toBe('privateKey');
    await checkSecrets('jwt.mint', mint, { privateKey: pem });
    const pk = { tokenEndpoint: 'https://idp/token', clientId: 'c', clientAuth: 'private_key_jwt' as const };
    expect(await fieldOf(checkSecrets('oauth2.client_credentials', pk, {}))).toBe('privateKey');
    await checkSecrets('oauth2.client_credentials', pk, { privateKey: pem });
    await checkSecrets('vault.jwt_login', { clientAuth: 'none' }, {});
  });
});
