import { describe, expect, it } from 'vitest';
import { PROBLEM_CODES } from '#client';
import { CliError, hintFor, problemError } from './cli-error.js';
import { ExitCode } from './exit-codes.js';

describe('hints by problem code', () => {
  it('tells a missing route from a missing credential, both answered 404', () => {
    expect(hintFor(404, { code: 'NOT_FOUND' }, 'read events')).toContain('does not offer that route');
    expect(hintFor(404, { code: 'CREDENTIAL_NOT_FOUND' }, 'read it')).toContain('creds ls');
  });

  it('does not call a full namespace a conflict, though both answer 409', () => {
    expect(hintFor(409, { code: 'REVISION_CONFLICT' }, 'change it')).toContain('changed meanwhile');
    expect(hintFor(409, { code: 'SUBSCRIPTION_LIMIT_REACHED' }, 'add it')).toBeUndefined();
  });

  it('asks for re-authentication only when the token is unavailable for that reason', () => {
    expect(hintFor(503, { code: 'TOKEN_UNAVAILABLE', reason: 'auth' }, 'get it')).toContain('creds update');
    expect(hintFor(503, { code: 'TOKEN_UNAVAILABLE', reason: 'network', retryAfter: 4 }, 'get it')).toBe(
      'retry in 4 s',
    );
  });

  it('falls back to the status for an answer without a code it knows', () => {
    expect(hintFor(401, { title: 'Unauthorized' }, 'list')).toContain('tokenkeeper login');
    expect(hintFor(404, { code: 'SOMETHING_NEWER' }, 'read it')).toContain('creds ls');
    expect(hintFor(502, undefined, 'read it')).toBe('retry later');
  });

  it('gives every code of a 4xx row that asks the user to act a hint', () => {
    for (const code of [
      'UNAUTHENTICATED',
      'FORBIDDEN',
      'VALIDATION_FAILED',
      'INVALID_BODY',
      'INVALID_JSON',
      'JSON_TOO_DEEP',
      'INVALID_CURSOR',
      'BAD_REQUEST',
      'INVALID_CREDENTIAL_INPUT',
      'INVALID_SUBSCRIPTION_INPUT',
      'OUTBOUND_URL_REFUSED',
    ] as const)
      expect(hintFor(PROBLEM_CODES[code].status, { code }, 'do it'), code).toBeTruthy();
  });
});

describe('CliError.is', () => {
  it('matches the problem code the API answered with', () => {
    const err = problemError(404, { title: 'Not found', code: 'NOT_FOUND' }, 'read events');
    expect(err).toBeInstanceOf(CliError);
    expect(err.exitCode).toBe(ExitCode.NotFound);
    expect(err.is('NOT_FOUND')).toBe(true);
    expect(err.is('CREDENTIAL_NOT_FOUND', 'POOL_NOT_FOUND')).toBe(false);
    expect(new CliError('x', ExitCode.Api).is('NOT_FOUND')).toBe(false);
  });
});
