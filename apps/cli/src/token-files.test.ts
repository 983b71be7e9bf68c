import { describe, expect, it } from 'vitest';
import {
  GOOGLE_TOKEN_URI,
  googleRegistration,
  nameFromFile,
  oauthTokensRegistration,
  parseExpiresAt,
  TokenFileError,
} from './token-files.js';

describe('parseExpiresAt', () => {
  it('reads epoch seconds, epoch milliseconds and ISO dates', () => {
    expect(parseExpiresAt(1_800_000_000)).toBe('2027-01-15T08:00:00.000Z');
    expect(parseExpiresAt(1_800_000_000_000)).toBe('2027-01-15T08:00:00.000Z');
    expect(parseExpiresAt('1800000000')).toBe('2027-01-15T08:00:00.000Z');
    expect(parseExpiresAt('2027-01-15T09:00:00+01:00')).toBe('2027-01-15T08:00:00.000Z');
    expect(parseExpiresAt('soon')).toBeUndefined();
    expect(parseExpiresAt(undefined)).toBeUndefined();
  });
});

describe('oauthTokensRegistration', () => {
  const file = '/home/u/.oauth-tokens/github.json';

  it('maps a complete file to an oauth2.refresh_token registration', () => {
    const body = oauthTokensRegistration(
      file,
      {
        access_token: 'at',
        refresh_token: 'rt',
        expires_at: 1_800_000_000,
        token_type: 'Bearer',
        scope: 'repo',
        client_id: 'cid',
        token_endpoint: 'https://idp.example/token',
      },
      { labels: { team: 'x' } },
    );
    expect(body).toEqual({
      kind: 'oauth2.refresh_token',
      name: 'github',
      labels: { source: 'oauth-tokens', team: 'x' },
      tokenEndpoint: 'https://idp.example/token',
      clientId: 'cid',
      clientAuth: 'none',
      refreshToken: 'rt',
      scope: 'repo',
      accessToken: 'at',
      expiresAt: '2027-01-15T08:00:00.000Z',
      tokenType: 'Bearer',
    });
  });

  it('takes what the file lacks from the flags, and the file wins over the flags', () => {
    const body = oauthTokensRegistration(
      file,
      { refresh_token: 'rt', client_id: 'from-file' },
      { tokenEndpoint: 'https://flag/token', clientId: 'from-flag', clientSecret: 's', namePrefix: 'imp-' },
    );
    expect(body).toMatchObject({
      name: 'imp-github',
      tokenEndpoint: 'https://flag/token',
      clientId: 'from-file',
      clientSecret: 's',
      clientAuth: 'client_secret_basic',
    });
    expect(body).not.toHaveProperty('accessToken');
  });

  it('refuses files it cannot keep fresh, saying what to do', () => {
    expect(() => oauthTokensRegistration(file, { access_token: 'a' }, {})).toThrow(/no refresh_token/);
    expect(() => oauthTokensRegistration(file, { refresh_token: 'r' }, {})).toThrow(/--token-endpoint/);
    expect(() => oauthTokensRegistration(file, [], {})).toThrow(TokenFileError);
  });

  it('names credentials after their files', () => {
    expect(nameFromFile('a/b/Notion.JSON')).toBe('Notion');
  });
});

describe('googleRegistration', () => {
  it('maps an authorized_user file with Google’s token endpoint by default', () => {
    const body = googleRegistration(
      '/x/application_default_credentials.json',
      { type: 'authorized_user', client_id: 'c', client_secret: 's', refresh_token: 'r' },
      {},
    );
    expect(body).toEqual({
      kind: 'oauth2.refresh_token',
      name: 'google-application_default_credentials',
      labels: { source: 'google' },
      tokenEndpoint: GOOGLE_TOKEN_URI,
      clientId: 'c',
      clientAuth: 'client_secret_post',
      clientSecret: 's',
      refreshToken: 'r',
    });
  });

  it('refuses service-account keys and incomplete files', () => {
    expect(() => googleRegistration('f.json', { type: 'service_account' }, {})).toThrow(/service-account/);
    expect(() => googleRegistration('f.json', { client_id: 'c' }, {})).toThrow(
      /client_secret, refresh_token/,
    );
  });
});
