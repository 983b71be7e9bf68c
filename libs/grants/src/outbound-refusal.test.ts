import { describe, expect, it } from 'vitest';
import { createOutboundFetch, OutboundPolicy } from '#common';
import { classifyGrantFailure } from '#core';
import { SHIPPED_OAUTH_GRANTS as grants } from '../../../test/support/oauth-grants.js';
import { GrantConfigurationError, GrantError } from './grant-client.js';
import { OAuthGrantClient } from './oauth-grant-client.js';

const policy = new OutboundPolicy({
  allowHttpHosts: ['127.0.0.1'],
  allowPrivate: false,
  allowLoopback: false,
  allowCidrs: [],
});
const client = new OAuthGrantClient({
  grants,
  fetch: createOutboundFetch(policy, { timeoutMs: 1000, maxResponseBytes: 64 * 1024 }),
});

async function failureAt(tokenEndpoint: string) {
  const err = await client
    .execute({
      kind: 'oauth2.client_credentials',
      grant: { tokenEndpoint, clientAuth: 'client_secret_basic', clientId: 'c' },
      secrets: { clientSecret: 's' },
      timeoutMs: 1000,
      credentialId: 'cred_x',
      namespace: 'default',
    })
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(GrantError);
  return classifyGrantFailure((err as GrantError).failure);
}

describe('a token endpoint the outbound policy refuses', () => {
  it('is a permanent OUTBOUND_REFUSED naming the rule, refused at connect time', async () => {
    const f = await failureAt('http://127.0.0.1:9/token');
    expect(f).toMatchObject({ class: 'permanent', code: 'OUTBOUND_REFUSED' });
    expect(f.message).toContain('rule loopback');
  });

  it('is a permanent OUTBOUND_REFUSED naming the rule, refused by the URL check', async () => {
    const f = await failureAt('http://tokens.example/token');
    expect(f).toMatchObject({ class: 'permanent', code: 'OUTBOUND_REFUSED' });
    expect(f.message).toContain('rule https_required');
  });
});

describe('a credential without a client id', () => {
  it('fails as a configuration error the history shows, not an exception the job retries silently', async () => {
    const client = new OAuthGrantClient({ grants });
    await expect(
      client.execute({
        kind: 'oauth2.token_exchange',
        grant: { tokenEndpoint: 'http://127.0.0.1:9/token', clientAuth: 'none' },
        secrets: {},
        timeoutMs: 1000,
      }),
    ).rejects.toThrow(GrantConfigurationError);
  });
});
