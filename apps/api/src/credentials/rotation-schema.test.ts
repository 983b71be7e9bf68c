import { describe, expect, it } from 'vitest';
import { registerCredentialSchema, updateCredentialSchema } from './credential.schemas.js';

const base = {
  kind: 'oauth2.refresh_token',
  tokenEndpoint: 'https://idp.example/token',
  clientId: 'crm',
  refreshToken: 'rt',
};

describe('rotation settings in the credential body', () => {
  it('accepts a provider, a mode and a grace period', () => {
    const parsed = registerCredentialSchema.parse({ ...base, rotation: { mode: 'grace', graceSeconds: 30 } });
    expect(parsed.rotation).toEqual({ mode: 'grace', graceSeconds: 30 });
    expect(updateCredentialSchema.parse({ rotation: { provider: 'okta' } }).rotation).toEqual({
      provider: 'okta',
    });
  });

  it('names the field to fix', () => {
    const bad = [
      { mode: 'sometimes' },
      { provider: 'unknown-idp' },
      { graceSeconds: 3601 },
      { mode: 'strict', graceSeconds: 30 },
      { extra: true },
    ];
    for (const rotation of bad) {
      const result = registerCredentialSchema.safeParse({ ...base, rotation });
      expect(result.success).toBe(false);
      expect(result.error?.issues[0]?.path[0]).toBe('rotation');
    }
  });
});
