import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileSourcePolicy } from '#common';
import { type GrantSettings } from '#core';
import { type GrantRequest, OAuthGrantClient } from '#grants';
import {
  ACCESS_TOKEN_TYPE,
  type AssertionGrantLog,
  JWT_BEARER,
  JWT_TOKEN_TYPE,
  registerAssertionGrants,
  TOKEN_EXCHANGE,
} from '../support/assertion-grants.js';
import { grantFailureOf, grantRequest } from '../support/grant-requests.js';
import { createJwtIssuer, type TestJwtIssuer } from '../support/jwt-issuer.js';
import { SHIPPED_OAUTH_GRANTS } from '../support/oauth-grants.js';
import { type OAuthServer, startOAuthServer } from '../support/oauth-server.js';

/**
 * private_key_jwt client authentication, RFC 7523 jwt-bearer and RFC 8693 token exchange through
 * OAuthGrantClient (openid-client) against a real oidc-provider.
 */
describe('OAuth grants that sign or exchange tokens', () => {
  let oauth: OAuthServer;
  let grants: AssertionGrantLog;
  let spire: TestJwtIssuer;
  let dir: string;
  let ecPrivateJwk: string;
  let rsaPem: string;
  let serviceAccountJwk: string;
  let client: OAuthGrantClient;

  beforeAll(async () => {
    const ec = await generateKeyPair('ES256', { extractable: true });
    ecPrivateJwk = JSON.stringify({ ...(await exportJWK(ec.privateKey)), kid: 'pk-ec', alg: 'ES256' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    rsaPem = rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const sa = await generateKeyPair('ES256', { extractable: true });
    serviceAccountJwk = JSON.stringify({ ...(await exportJWK(sa.privateKey)), kid: 'sa-1' });
    spire = await createJwtIssuer();
    oauth = await startOAuthServer({
      accessTokenTtl: 30,
      extraClients: [
        {
          client_id: 'tk-pkjwt',
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: {
            keys: [
              { ...(await exportJWK(ec.publicKey)), kid: 'pk-ec', use: 'sig' },
              { ...(await exportJWK(rsa.publicKey)), use: 'sig' },
            ],
          },
          grant_types: ['client_credentials'],
          response_types: [],
          redirect_uris: [],
          scope: 'api',
        },
        {
          client_id: 'tk-assertions',
          client_secret: 'assertions-secret-0123456789',
          token_endpoint_auth_method: 'client_secret_basic',
          grant_types: [JWT_BEARER, TOKEN_EXCHANGE],
          response_types: [],
          redirect_uris: [],
          scope: 'api',
        },
      ],
    });
    grants = registerAssertionGrants(oauth, {
      jwks: { keys: [{ ...(await exportJWK(sa.publicKey)), kid: 'sa-1' }, ...spire.jwks.keys] },
      issuers: ['svc-account@example.iam'],
    });
    dir = mkdtempSync(join(tmpdir(), 'tk-oauth-assert-'));
    client = new OAuthGrantClient({ fileSources: new FileSourcePolicy([dir]), grants: SHIPPED_OAUTH_GRANTS });
  });

  afterAll(async () => {
    await oauth?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const request = (
    kind: GrantRequest['kind'],
    grant: Partial<GrantSettings>,
    secrets: GrantRequest['secrets'],
  ) =>
    grantRequest({
      kind,
      grant: { tokenEndpoint: oauth.tokenEndpoint, clientAuth: 'none', ...grant },
      secrets,
    });
  const failure = grantFailureOf;

  it('authenticates with private_key_jwt using a JWK or a PKCS#8 PEM key', async () => {
    for (const privateKey of [ecPrivateJwk, rsaPem]) {
      const result = await client.execute(
        request(
          'oauth2.client_credentials',
          { clientId: 'tk-pkjwt', clientAuth: 'private_key_jwt', scope: 'api' },
          { privateKey },
        ),
      );
      expect((await oauth.introspect(result.accessToken)).active).toBe(true);
      expect(result.expiresInSeconds).toBe(30);
    }
    // A key the client did not register is refused as invalid_client: permanent.
    const other = await generateKeyPair('ES256', { extractable: true });
    const refused = await failure(
      client.execute(
        request(
          'oauth2.client_credentials',
          { clientId: 'tk-pkjwt', clientAuth: 'private_key_jwt' },
          { privateKey: JSON.stringify(await exportJWK(other.privateKey)) },
        ),
      ),
    );
    expect(refused).toMatchObject({ class: 'permanent', code: 'INVALID_CLIENT' });
  });

  it('exchanges a signed RFC 7523 assertion (iss, sub, aud, exp, jti) for an access token', async () => {
    const grant = {
      clientId: 'tk-assertions',
      clientAuth: 'client_secret_basic' as const,
      assertion: { ttlSeconds: 120, issuer: 'svc-account@example.iam', subject: 'user-7' },
    };
    const first = await client.execute(
      request('oauth2.jwt_bearer', grant, {
        clientSecret: 'assertions-secret-0123456789',
        privateKey: serviceAccountJwk,
      }),
    );
    const second = await client.execute(
      request('oauth2.jwt_bearer', grant, {
        clientSecret: 'assertions-secret-0123456789',
        privateKey: serviceAccountJwk,
      }),
    );
    expect((await oauth.introspect(first.accessToken)).active).toBe(true);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(grants.jwtBearer.map((g) => g.sub)).toEqual(['user-7', 'user-7']);
    expect(new Set(grants.jwtBearer.map((g) => g.jti)).size).toBe(2);

    // An assertion signed by an untrusted key: invalid_grant, permanent.
    const untrusted = await generateKeyPair('ES256', { extractable: true });
    const refused = await failure(
      client.execute(
        request('oauth2.jwt_bearer', grant, {
          clientSecret: 'assertions-secret-0123456789',
          privateKey: JSON.stringify(await exportJWK(untrusted.privateKey)),
        }),
      ),
    );
    expect(refused).toMatchObject({ class: 'permanent', code: 'INVALID_GRANT' });
  });

  it('exchanges a subject token from a file (JWT-SVID) or from another credential (RFC 8693)', async () => {
    const svidFile = join(dir, 'svid.jwt');
    writeFileSync(svidFile, `${await spire.sign({ subject: 'spiffe://example.org/web', ttlSeconds: 60 })}\n`);
    const base = {
      clientId: 'tk-assertions',
      clientAuth: 'client_secret_basic' as const,
      audience: 'https://api.example',
    };
    const fromFile = await client.execute(
      request(
        'oauth2.token_exchange',
        { ...base, tokenExchange: { subject: { file: svidFile }, subjectTokenType: JWT_TOKEN_TYPE } },
        { clientSecret: 'assertions-secret-0123456789' },
      ),
    );
    expect((await oauth.introspect(fromFile.accessToken)).active).toBe(true);
    expect(grants.tokenExchange.at(-1)).toEqual({
      sub: 'spiffe://example.org/web',
      subjectTokenType: JWT_TOKEN_TYPE,
      audience: 'https://api.example',
    });

    // Subject: another credential's current access token, read through the reader port.
    const cc = oauth.clients.clientCredentials;
    const subject = await client.execute(
      request(
        'oauth2.client_credentials',
        { clientId: cc.clientId, clientAuth: 'client_secret_basic', scope: 'api' },
        { clientSecret: cc.clientSecret },
      ),
    );
    const reads: string[] = [];
    const exchanging = new OAuthGrantClient({
      grants: SHIPPED_OAUTH_GRANTS,
      tokens: {
        currentToken: async (namespace, id) => {
          reads.push(`${namespace}/${id}`);
          return subject.accessToken;
        },
      },
    });
    const exchanged = await exchanging.execute(
      request(
        'oauth2.token_exchange',
        {
          ...base,
          tokenExchange: {
            subject: { credentialId: 'cred_subjectsource1' },
            subjectTokenType: ACCESS_TOKEN_TYPE,
          },
        },
        { clientSecret: 'assertions-secret-0123456789' },
      ),
    );
    expect(reads).toEqual(['default/cred_subjectsource1']);
    expect((await oauth.introspect(exchanged.accessToken)).active).toBe(true);
    expect(grants.tokenExchange.at(-1)?.sub).toBe(cc.clientId);

    // A subject token the server does not know: invalid_grant, permanent.
    const bogusFile = join(dir, 'bogus.jwt');
    writeFileSync(bogusFile, 'not-a-token');
    const refused = await failure(
      client.execute(
        request(
          'oauth2.token_exchange',
          { ...base, tokenExchange: { subject: { file: bogusFile }, subjectTokenType: JWT_TOKEN_TYPE } },
          { clientSecret: 'assertions-secret-0123456789' },
        ),
      ),
    );
    expect(refused).toMatchObject({ class: 'permanent', code: 'INVALID_GRANT' });
  });
});
