import { describe, expect, it, vi } from 'vitest';
import { GrantConfigurationError, OAuthGrantClient } from '#grants';
import { InvalidCredentialInputError } from '../errors.js';
import { GrantClientRegistry } from './grant-client-registry.js';
import { SHARED_SECRET_FIELDS } from './kind-descriptor.js';
import {
  CREDENTIAL_KINDS,
  cliFlagsOf,
  KIND_DESCRIPTORS,
  KINDS,
  kindOf,
  resolveRotation,
} from './registry.js';
import { checkUpdateFitsKind } from './update-fields.js';

const { boundInputFields: BOUND_INPUT_FIELDS, grantInputFields: GRANT_INPUT_FIELDS } = KINDS;

describe('the kind descriptors', () => {
  it('bind the same settings fields to the destination as docs/security.md lists', () => {
    expect([...BOUND_INPUT_FIELDS].sort()).toEqual(
      [
        'tokenEndpoint',
        'issuer',
        'clientId',
        'clientAuth',
        'audience',
        'resource',
        'signingAlg',
        'kid',
        'ttlSeconds',
        'subject',
        'claims',
        'assertionIssuer',
        'assertionAudience',
        'subjectCredentialId',
        'subjectTokenFile',
        'vaultAddr',
        'mount',
        'role',
        'jwtFile',
        'jwtCredentialId',
        'vaultNamespace',
      ].sort(),
    );
    expect(GRANT_INPUT_FIELDS.filter((f) => !BOUND_INPUT_FIELDS.includes(f)).sort()).toEqual(
      ['maxTtlSeconds', 'requestedTokenType', 'scope', 'subjectTokenType', 'timeoutSeconds'].sort(),
    );
  });

  it('assume strict rotation for refresh tokens only', () => {
    for (const kind of CREDENTIAL_KINDS)
      expect(resolveRotation(kind, undefined).mode).toBe(kind === 'oauth2.refresh_token' ? 'strict' : 'none');
  });

  it('hold only the shared secrets, and hint at flags the CLI has', () => {
    const flags = cliFlagsOf().map((f) => f.flag.split(' ')[0]);
    for (const d of KIND_DESCRIPTORS) {
      for (const s of d.secrets) expect(SHARED_SECRET_FIELDS).toContain(s);
      const flag = d.cli.reauth.split(' ')[0]!;
      expect(['--from-json', '--field', ...flags]).toContain(flag);
    }
  });

  it('refuse an unknown kind, naming the field', () => {
    expect(() => kindOf('oauth2.password')).toThrow(InvalidCredentialInputError);
  });

  it('refuse a PATCH field named like an object property (constructor, toString), naming it', () => {
    for (const field of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const input = JSON.parse(`{"${field}": "x"}`) as Record<string, unknown>;
      expect(() => checkUpdateFitsKind('static', kindOf('static'), input), field).toThrow(
        InvalidCredentialInputError,
      );
    }
  });

  it('give every kind but static a grant client', async () => {
    const registry = GrantClientRegistry.standard({});
    await expect(
      registry.execute({ kind: 'static', grant: { clientAuth: 'none' }, secrets: {}, timeoutMs: 1000 }),
    ).rejects.toThrow(GrantConfigurationError);
    expect(KIND_DESCRIPTORS.filter((d) => !d.grantClient).map((d) => d.kind)).toEqual(['static']);
  });
});

describe('the OAuth kinds', () => {
  it('share one OAuth grant client per set of dependencies, each performing its own grant', async () => {
    const built = vi.spyOn(OAuthGrantClient.prototype, 'forGrant');
    try {
      const oauthKinds = CREDENTIAL_KINDS.filter((k) => k.startsWith('oauth2.'));
      for (const deps of [{}, {}]) {
        const registry = GrantClientRegistry.standard(deps);
        for (const kind of oauthKinds) {
          // No token endpoint: refused before anything is sent, after the kind's client is built.
          await expect(
            registry.execute({ kind, grant: { clientAuth: 'none' }, secrets: {}, timeoutMs: 1000 }),
          ).rejects.toThrow('the credential has no token endpoint');
        }
      }
      expect(built).toHaveBeenCalledTimes(8);
      const clients = built.mock.contexts;
      expect(new Set(clients.slice(0, 4)).size).toBe(1);
      expect(new Set(clients.slice(4)).size).toBe(1);
      expect(clients[4]).not.toBe(clients[0]);
      expect(new Set(built.mock.calls.map(([grant]) => grant.grantType)).size).toBe(4);
    } finally {
      built.mockRestore();
    }
  });
});

describe('CREDENTIAL_KINDS', () => {
  it('lists each kind once, the OAuth ones first, each a dotted lower-case name', () => {
    expect(new Set(CREDENTIAL_KINDS).size).toBe(CREDENTIAL_KINDS.length);
    const oauth = CREDENTIAL_KINDS.filter((k) => k.startsWith('oauth2.'));
    expect(CREDENTIAL_KINDS.slice(0, oauth.length)).toEqual(oauth);
    for (const kind of CREDENTIAL_KINDS) expect(kind).toMatch(/^[a-z0-9]+(\.[a-z0-9_]+)?$/);
  });
});
