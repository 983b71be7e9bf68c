import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeJwt, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileSourcePolicy } from '#common';
import {
  type ReceivedTokenRequest,
  startCapturingTokenEndpoint,
} from '../../../test/support/capturing-token-endpoint.js';
import { SHIPPED_OAUTH_GRANTS as grants } from '../../../test/support/oauth-grants.js';
import { GrantConfigurationError, type GrantRequest } from './grant-client.js';
import { OAuthGrantClient } from './oauth-grant-client.js';

/**
 * What the OAuth grant client sends for each grant, as a token endpoint on 127.0.0.1 receives it:
 * the form body (parameters and their order) and the client authentication.
 */

const SRC = fileURLToPath(new URL('.', import.meta.url));

type Received = Pick<ReceivedTokenRequest, 'body' | 'authorization'>;

describe('the OAuth grant client', () => {
  let endpoint: Awaited<ReturnType<typeof startCapturingTokenEndpoint>>;
  let tokenEndpoint = '';
  const dir = mkdtempSync(join(tmpdir(), 'tk-oauth-client-'));
  const client = new OAuthGrantClient({ grants, fileSources: new FileSourcePolicy([dir]) });
  let privateKey = '';

  beforeAll(async () => {
    endpoint = await startCapturingTokenEndpoint({
      access_token: 'at',
      token_type: 'Bearer',
      expires_in: 60,
      scope: 'api',
    });
    tokenEndpoint = endpoint.url;
    const { privateKey: key } = await generateKeyPair('ES256', { extractable: true });
    privateKey = JSON.stringify({ ...(await exportJWK(key)), kid: 'k1' });
  });
  afterAll(async () => {
    await endpoint?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const request = (over: Partial<GrantRequest> & Pick<GrantRequest, 'kind'>): GrantRequest => ({
    grant: { tokenEndpoint, clientId: 'svc', clientAuth: 'client_secret_basic' },
    secrets: { clientSecret: 'secret' },
    timeoutMs: 2000,
    credentialId: 'cred_oauthclient001',
    namespace: 'default',
    ...over,
  });
  const basic = `Basic ${Buffer.from('svc:secret').toString('base64')}`;

  async function sent(r: GrantRequest): Promise<Received> {
    endpoint.received.length = 0;
    const result = await client.execute(r);
    expect(result).toMatchObject({
      accessToken: 'at',
      tokenType: 'bearer',
      expiresInSeconds: 60,
      scope: 'api',
    });
    expect(endpoint.received).toHaveLength(1);
    const { body, authorization } = endpoint.received[0]!;
    return { body, authorization };
  }

  it('refresh token: the shared parameters, then refresh_token, then the grant type', async () => {
    const r = request({
      kind: 'oauth2.refresh_token',
      grant: {
        tokenEndpoint,
        clientId: 'svc',
        clientAuth: 'client_secret_post',
        scope: 'api read',
        audience: 'https://api.example',
        resource: 'https://api.example/v1',
      },
      secrets: { clientSecret: 'secret', refreshToken: 'rt-1' },
    });
    expect(await sent(r)).toEqual({
      body:
        'scope=api+read&audience=https%3A%2F%2Fapi.example&resource=https%3A%2F%2Fapi.example%2Fv1' +
        '&refresh_token=rt-1&grant_type=refresh_token&client_id=svc&client_secret=secret',
      authorization: undefined,
    });
  });

  it('client credentials: the client authentication and the grant type only', async () => {
    expect(await sent(request({ kind: 'oauth2.client_credentials' }))).toEqual({
      body: 'grant_type=client_credentials',
      authorization: basic,
    });
  });

  it('jwt-bearer: a fresh RFC 7523 assertion for the token endpoint', async () => {
    const got = await sent(
      request({
        kind: 'oauth2.jwt_bearer',
        grant: {
          tokenEndpoint,
          clientId: 'svc',
          clientAuth: 'client_secret_basic',
          scope: 'api',
          assertion: { ttlSeconds: 120, issuer: 'sa@example', subject: 'user-7' },
        },
        secrets: { clientSecret: 'secret', privateKey },
      }),
    );
    const params = [...new URLSearchParams(got.body).entries()];
    expect(params.map(([name]) => name)).toEqual(['scope', 'assertion', 'grant_type']);
    expect(params[2]![1]).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
    const claims = decodeJwt(params[1]![1]);
    expect(claims).toMatchObject({ iss: 'sa@example', sub: 'user-7', aud: tokenEndpoint });
    expect(claims.exp! - claims.iat!).toBe(120);
    expect(got.authorization).toBe(basic);
  });

  it('token exchange: the subject token read from its file, its type, the requested type', async () => {
    const file = join(dir, 'subject.jwt');
    writeFileSync(file, 'subject-token\n');
    const got = await sent(
      request({
        kind: 'oauth2.token_exchange',
        grant: {
          tokenEndpoint,
          clientId: 'svc',
          clientAuth: 'client_secret_basic',
          audience: 'https://api.example',
          tokenExchange: {
            subject: { file },
            subjectTokenType: 'urn:ietf:params:oauth:token-type:jwt',
            requestedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
          },
        },
      }),
    );
    expect(got).toEqual({
      body:
        'audience=https%3A%2F%2Fapi.example&subject_token=subject-token' +
        '&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt' +
        '&requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token' +
        '&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange',
      authorization: basic,
    });
  });

  it('what a grant lacks is a configuration error, and nothing is sent', async () => {
    endpoint.received.length = 0;
    const cases: [GrantRequest, string][] = [
      [request({ kind: 'oauth2.refresh_token' }), 'the credential has no refresh token'],
      [
        request({
          kind: 'oauth2.jwt_bearer',
          grant: { tokenEndpoint, clientId: 'svc', clientAuth: 'none', assertion: { ttlSeconds: 60 } },
        }),
        'oauth2.jwt_bearer needs a privateKey',
      ],
      [
        request({ kind: 'oauth2.jwt_bearer', secrets: { clientSecret: 'secret', privateKey } }),
        'jwt-bearer assertion settings are missing',
      ],
      [request({ kind: 'oauth2.token_exchange' }), 'token exchange settings are missing'],
      [request({ kind: 'x.unknown' }), 'x.unknown is not an OAuth grant'],
    ];
    for (const [r, message] of cases) {
      const err = await client.execute(r).catch((e: unknown) => e);
      expect(err, message).toBeInstanceOf(GrantConfigurationError);
      expect((err as Error).message).toBe(message);
    }
    expect(endpoint.received).toEqual([]);
  });

  it('names no credential kind: each kind names its grant in its descriptor', () => {
    for (const name of readdirSync(SRC).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
      const code = readFileSync(join(SRC, name), 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/\/\/.*$/gm, '');
      expect(code, name).not.toMatch(/oauth2\./);
    }
  });
});
