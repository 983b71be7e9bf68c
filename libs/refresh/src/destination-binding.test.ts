import { describe, expect, it } from 'vitest';
import type { CredentialKind, GrantSettings } from '#core';
import {
  bindSecrets,
  bindsOnPersist,
  canonicalJson,
  DestinationMismatchError,
  describeDestination,
  movedLeaves,
  verifyDestination,
} from './destination-binding.js';

const refresh: GrantSettings = {
  tokenEndpoint: 'https://as.example/token',
  issuer: 'https://as.example',
  clientAuth: 'client_secret_basic',
  clientId: 'app',
  audience: 'api',
  resource: 'https://api.example',
  scope: 'read',
  timeoutMs: 5000,
};
const mint: GrantSettings = {
  clientAuth: 'none',
  mint: {
    ttlSeconds: 600,
    issuer: 'neuron',
    subject: 'svc',
    audience: ['a', 'b'],
    claims: { tenant: 't1', nested: { x: 1 } },
    alg: 'ES256',
    kid: 'k1',
  },
};
const exchange: GrantSettings = {
  ...refresh,
  clientAuth: 'none',
  tokenExchange: { subject: { credentialId: 'cred_src' }, subjectTokenType: 'access' },
};
const vault: GrantSettings = {
  clientAuth: 'none',
  vault: {
    address: 'https://vault.example:8200',
    mount: 'jwt',
    role: 'backend',
    jwt: { credentialId: 'cred_jwt' },
    vaultNamespace: 'team',
  },
};

describe('describeDestination', () => {
  it('is stable: same settings, same text, whatever the key order', () => {
    const reordered = Object.fromEntries(Object.entries(refresh).reverse()) as unknown as GrantSettings;
    expect(describeDestination('oauth2.refresh_token', reordered)).toBe(
      describeDestination('oauth2.refresh_token', refresh),
    );
    expect(describeDestination('oauth2.refresh_token', refresh)).toBe(
      '{"audience":"api","clientAuth":"client_secret_basic","clientId":"app","issuer":"https://as.example","kind":"oauth2.refresh_token","resource":"https://api.example","tokenEndpoint":"https://as.example/token","v":1}',
    );
    expect(canonicalJson({ b: { d: 1, c: [{ f: 1, e: 2 }] }, a: undefined })).toBe(
      '{"b":{"c":[{"e":2,"f":1}],"d":1}}',
    );
  });

  const cases: [string, CredentialKind, GrantSettings, (g: GrantSettings) => GrantSettings][] = [
    ['tokenEndpoint', 'oauth2.refresh_token', refresh, (g) => ({ ...g, tokenEndpoint: 'https://evil/t' })],
    ['issuer', 'oauth2.refresh_token', refresh, (g) => ({ ...g, issuer: 'https://evil' })],
    ['clientAuth', 'oauth2.refresh_token', refresh, (g) => ({ ...g, clientAuth: 'client_secret_post' })],
    ['clientId', 'oauth2.refresh_token', refresh, (g) => ({ ...g, clientId: 'other' })],
    ['clientAssertionAlg', 'oauth2.refresh_token', refresh, (g) => ({ ...g, clientAssertionAlg: 'RS256' })],
    ['audience', 'oauth2.refresh_token', refresh, (g) => ({ ...g, audience: 'other' })],
    ['resource', 'oauth2.refresh_token', refresh, (g) => ({ ...g, resource: 'https://other' })],
    ...(['issuer', 'subject', 'audience', 'claims', 'ttlSeconds', 'alg', 'kid'] as const).map(
      (f): [string, CredentialKind, GrantSettings, (g: GrantSettings) => GrantSettings] => [
        `mint.${f}`,
        'jwt.mint',
        mint,
        (g) => ({ ...g, mint: { ...g.mint!, [f]: f === 'ttlSeconds' ? 60 : f === 'alg' ? 'RS256' : 'x' } }),
      ],
    ),
    [
      'mint nested claim',
      'jwt.mint',
      mint,
      (g) => ({ ...g, mint: { ...g.mint!, claims: { tenant: 't1', nested: { x: 2 } } } }),
    ],
    [
      'assertion.audience',
      'oauth2.jwt_bearer',
      { ...refresh, assertion: { ttlSeconds: 300, issuer: 'app' } },
      (g) => ({ ...g, assertion: { ...g.assertion!, audience: 'https://evil' } }),
    ],
    [
      'token exchange subject',
      'oauth2.token_exchange',
      exchange,
      (g) => ({ ...g, tokenExchange: { ...g.tokenExchange!, subject: { credentialId: 'cred_other' } } }),
    ],
    [
      'token exchange subject file',
      'oauth2.token_exchange',
      exchange,
      (g) => ({ ...g, tokenExchange: { ...g.tokenExchange!, subject: { file: '/run/token' } } }),
    ],
    ...(['address', 'mount', 'role', 'vaultNamespace'] as const).map(
      (f): [string, CredentialKind, GrantSettings, (g: GrantSettings) => GrantSettings] => [
        `vault.${f}`,
        'vault.jwt_login',
        vault,
        (g) => ({ ...g, vault: { ...g.vault!, [f]: 'other' } }),
      ],
    ),
    [
      'vault.jwt',
      'vault.jwt_login',
      vault,
      (g) => ({ ...g, vault: { ...g.vault!, jwt: { credentialId: 'cred_other' } } }),
    ],
  ];
  it.each(cases)('changes with %s', (_name, kind, grant, change) => {
    expect(describeDestination(kind, change(grant))).not.toBe(describeDestination(kind, grant));
  });

  it('changes with the kind, not with scope, timeout or token types', () => {
    const base = describeDestination('oauth2.token_exchange', exchange);
    expect(describeDestination('oauth2.client_credentials', exchange)).not.toBe(base);
    expect(
      describeDestination('oauth2.token_exchange', {
        ...exchange,
        scope: 'write',
        timeoutMs: 1,
        tokenExchange: { ...exchange.tokenExchange!, subjectTokenType: 'jwt', requestedTokenType: 'x' },
      }),
    ).toBe(base);
  });
});

describe("a kind's own settings (params)", () => {
  const password: GrantSettings = {
    ...refresh,
    params: { username: 'alice', passwordFile: '/run/secrets/pw' },
  };

  it('are bound, each compared on its own and named by its input field', () => {
    const base = describeDestination('oauth2.password', password);
    const moved = { ...password, params: { ...password.params, passwordFile: '/run/secrets/other' } };
    expect(describeDestination('oauth2.password', moved)).not.toBe(base);
    expect(movedLeaves(base, describeDestination('oauth2.password', moved))).toEqual(['params.passwordFile']);
    expect(() =>
      verifyDestination(
        { id: 'cred_1', kind: 'oauth2.password', grant: moved },
        'jwe',
        bindSecrets({ clientSecret: 's' }, 'oauth2.password', password),
      ),
    ).toThrow(DestinationMismatchError);
  });

  it('leave out those the kind names as unbound, and leave the shipped kinds as they were', () => {
    // oauth2.token_exchange names subjectTokenType unbound: as a setting of its own it stays unbound too.
    const own = (params: Record<string, string>) =>
      describeDestination('oauth2.token_exchange', { ...exchange, params });
    expect(own({ subjectTokenType: 'a', other: 'x' })).toBe(own({ subjectTokenType: 'b', other: 'x' }));
    expect(own({ subjectTokenType: 'a', other: 'x' })).not.toBe(own({ subjectTokenType: 'a', other: 'y' }));
    expect(JSON.parse(describeDestination('oauth2.client_credentials', refresh))).not.toHaveProperty(
      'params',
    );
  });

  it('that are all unbound leave the description as without them: setting one is no move', () => {
    const without = describeDestination('oauth2.token_exchange', exchange);
    const unboundOnly = { ...exchange, params: { subjectTokenType: 'a' } };
    expect(describeDestination('oauth2.token_exchange', unboundOnly)).toBe(without);
    expect(
      verifyDestination(
        { id: 'cred_1', kind: 'oauth2.token_exchange', grant: unboundOnly },
        'jwe',
        bindSecrets({}, 'oauth2.token_exchange', exchange),
      ).destination,
    ).toBe(without);
  });
});

describe('verifyDestination', () => {
  const p = { id: 'cred_a', kind: 'oauth2.refresh_token' as const, grant: refresh };

  it('passes secrets stored for the current settings', () => {
    const secrets = bindSecrets({ refreshToken: 'r' }, p.kind, p.grant);
    expect(verifyDestination(p, 'jwe', secrets)).toBe(secrets);
    expect(bindsOnPersist(secrets)).toBe(false);
  });

  it('refuses settings changed since, naming the fields (not their values)', () => {
    const secrets = bindSecrets({ refreshToken: 'r' }, p.kind, p.grant);
    const moved = { ...p, grant: { ...refresh, tokenEndpoint: 'https://evil.example/t' } };
    const err = (() => {
      try {
        verifyDestination(moved, 'jwe', secrets);
      } catch (e) {
        return e;
      }
    })() as DestinationMismatchError;
    expect(err).toBeInstanceOf(DestinationMismatchError);
    expect(err.code).toBe('DESTINATION_MISMATCH');
    expect(err.message).toContain('(tokenEndpoint)');
    expect(err.message).toContain('re-supply the secrets');
    expect(err.message).not.toContain('evil');
  });

  it('refuses a credential without a ciphertext (deleted to look like a legacy one)', () => {
    expect(() => verifyDestination(p, undefined, {})).toThrow(DestinationMismatchError);
  });

  it('trusts a legacy ciphertext once: bound to the current settings and stored again', () => {
    const bound = verifyDestination(p, 'jwe', { refreshToken: 'r' });
    expect(bound).toEqual({ refreshToken: 'r', destination: describeDestination(p.kind, p.grant) });
    expect(bindsOnPersist(bound)).toBe(true);
    // What the refresh stores next time verifies against the same settings.
    expect(verifyDestination(p, 'jwe', { ...bound })).toEqual(bound);
  });

  it('bindSecrets replaces an earlier binding', () => {
    const old = bindSecrets({ clientSecret: 's' }, p.kind, p.grant);
    const moved = { ...refresh, tokenEndpoint: 'https://as2.example/token' };
    expect(bindSecrets(old, p.kind, moved).destination).toBe(describeDestination(p.kind, moved));
  });
});
