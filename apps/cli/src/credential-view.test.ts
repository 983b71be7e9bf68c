import { describe, expect, it } from 'vitest';
import { type CredentialView, credentialColumns, displayState, stateHint } from './credential-view.js';
import { formatEvent } from './event-feed.js';

const NOW = Date.parse('2026-11-24T12:00:00.000Z');
const at = (offsetMs: number) => new Date(NOW + offsetMs).toISOString();
const cell = (c: CredentialView, header: string) =>
  credentialColumns(NOW)
    .find((col) => col.header === header)!
    .value(c);

describe('the credential list tells a failing credential from a pending one', () => {
  it('marks a pending credential whose first refreshes fail, and shows when it retries', () => {
    const failing: CredentialView = {
      id: 'cred_a',
      kind: 'oauth2.client_credentials',
      state: 'pending',
      failures: 3,
      lastFailure: { code: 'NETWORK_ERROR', nextAttemptAt: at(8_000) },
    };
    expect(displayState(failing)).toBe('pending (failing)');
    expect(cell(failing, 'refresh')).toBe('retry in 8s');
    const waiting: CredentialView = { id: 'cred_b', kind: 'oauth2.client_credentials', state: 'pending' };
    expect(displayState(waiting)).toBe('pending');
    expect(cell(waiting, 'refresh')).toBe('-');
  });
});

describe('re-authentication hints name the secrets of the kind', () => {
  it.each([
    ['oauth2.refresh_token', '--refresh-token @<file>'],
    ['oauth2.client_credentials', '--client-secret @<file>'],
    ['jwt.mint', 'privateKey'],
    ['static', 'accessToken'],
  ])('%s', (kind, expected) => {
    const hint = stateHint({ id: 'cred_x', kind, state: 'reauth_required' });
    expect(hint).toContain(expected);
    if (kind !== 'oauth2.refresh_token') expect(hint).not.toContain('--refresh-token');
  });
});

describe('events tail', () => {
  it('says "expired 35s ago", not "expires expired 35s ago"', () => {
    const line = (offset: number) =>
      formatEvent(
        {
          at: at(0),
          credentialId: 'cred_a',
          type: 'token.updated',
          revision: 2,
          data: { tokenVersion: 1, expiresAt: at(offset) },
        } as never,
        NOW,
      );
    expect(line(-35_000)).toContain('  expired 35s ago');
    expect(line(-35_000)).not.toContain('expires expired');
    expect(line(60_000)).toContain('  expires in 1m00s');
  });
});
