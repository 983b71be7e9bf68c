import { describe, expect, it, vi } from 'vitest';
import { OAuthGrantClient } from '#grants';
import { CREDENTIAL_KINDS } from '#kinds';
import { GrantClientRegistry } from '#refresh';
import { SHIPPED_OAUTH_GRANTS } from '../../support/oauth-grants.js';

describe('the grants the OAuth kinds perform', () => {
  it('are the ones the tests of OAuthGrantClient exercise (test/support/oauth-grants.ts), kind by kind', async () => {
    const oauthKinds = CREDENTIAL_KINDS.filter((k) => k.startsWith('oauth2.'));
    expect([...oauthKinds].sort()).toEqual(Object.keys(SHIPPED_OAUTH_GRANTS).sort());
    const built = vi.spyOn(OAuthGrantClient.prototype, 'forGrant');
    try {
      const registry = GrantClientRegistry.standard({});
      for (const kind of oauthKinds) {
        // No token endpoint: refused before anything is sent, after the kind's client is built.
        await expect(
          registry.execute({ kind, grant: { clientAuth: 'none' }, secrets: {}, timeoutMs: 1000 }),
        ).rejects.toThrow('the credential has no token endpoint');
        expect(built.mock.lastCall?.[0], kind).toBe(SHIPPED_OAUTH_GRANTS[kind]);
      }
    } finally {
      built.mockRestore();
    }
  });
});
