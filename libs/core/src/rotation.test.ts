import { describe, expect, it } from 'vitest';
import { resolveRotation } from '#kinds';

describe('resolveRotation', () => {
  it('defaults to strict for refresh tokens and none for other kinds', () => {
    expect(resolveRotation('oauth2.refresh_token', undefined)).toEqual({ mode: 'strict', graceSeconds: 0 });
    expect(resolveRotation('oauth2.client_credentials', undefined)).toEqual({
      mode: 'none',
      graceSeconds: 0,
    });
  });

  it('takes a provider’s documented behaviour, and explicit settings over it', () => {
    expect(resolveRotation('oauth2.refresh_token', { provider: 'okta' })).toEqual({
      mode: 'grace',
      graceSeconds: 30,
    });
    expect(resolveRotation('oauth2.refresh_token', { provider: 'okta', graceSeconds: 60 })).toEqual({
      mode: 'grace',
      graceSeconds: 60,
    });
    expect(resolveRotation('oauth2.refresh_token', { provider: 'atlassian' }).graceSeconds).toBe(600);
    expect(resolveRotation('oauth2.refresh_token', { provider: 'auth0' }).mode).toBe('strict');
    expect(
      resolveRotation('oauth2.refresh_token', { provider: 'auth0', mode: 'grace', graceSeconds: 10 }),
    ).toEqual({
      mode: 'grace',
      graceSeconds: 10,
    });
    expect(resolveRotation('oauth2.refresh_token', { provider: 'google' }).mode).toBe('none');
  });

  it('a grace period of zero seconds is strict', () => {
    expect(resolveRotation('oauth2.refresh_token', { mode: 'grace' })).toEqual({
      mode: 'strict',
      graceSeconds: 0,
    });
    expect(resolveRotation('oauth2.refresh_token', { mode: 'grace', graceSeconds: 0 }).mode).toBe('strict');
  });
});
