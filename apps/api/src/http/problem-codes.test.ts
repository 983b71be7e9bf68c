import { describe, expect, it } from 'vitest';
import * as client from '#client';
import * as common from '#common';
import * as core from '#core';
import { isProblemCode, PROBLEM_CODE_LIST, PROBLEM_CODES, TokenkeeperError } from '#core';
import * as grants from '#grants';
import * as refresh from '#refresh';
import * as store from '#store';
import * as webhooks from '#webhooks';

/**
 * Codes of errors that stay inside the services (grants, refreshes, the event history): the API
 * never answers with them, the problem mapping turns them into INTERNAL.
 */
const INTERNAL_CODES = new Set([
  'EVENT_FOLD_ERROR',
  'GRANT_FAILED',
  'GRANT_MISCONFIGURED',
  'DESTINATION_MISMATCH',
  'REFRESH_FENCED',
]);

type ErrorClass = (abstract new (...args: never[]) => TokenkeeperError) & { code: string };

/** Every error class the libraries export that the API could meet. */
function errorClasses(): [string, ErrorClass][] {
  const found = new Map<string, ErrorClass>();
  for (const lib of [core, common, store, grants, refresh, webhooks]) {
    for (const [name, value] of Object.entries(lib)) {
      // Bases of errors that name a field or a missing thing; they name no code themselves.
      if (value === core.FieldError || value === core.NotFoundError) continue;
      if (typeof value === 'function' && value.prototype instanceof TokenkeeperError)
        found.set(name, value as unknown as ErrorClass);
    }
  }
  return [...found];
}

describe('problem codes', () => {
  it('gives every code a 4xx or 5xx status and a title', () => {
    expect(PROBLEM_CODE_LIST).toEqual(Object.keys(PROBLEM_CODES));
    for (const code of PROBLEM_CODE_LIST) {
      const { status, title } = PROBLEM_CODES[code];
      expect(Number.isInteger(status) && status >= 400 && status <= 599, code).toBe(true);
      expect(title.trim().length, code).toBeGreaterThan(0);
      expect(code).toMatch(/^[A-Z][A-Z0-9_]*$/);
    }
  });

  it('is one table: the API reads the SDK’s', () => {
    expect(core.PROBLEM_CODES).toBe(client.PROBLEM_CODES);
    expect(core.PROBLEM_CODE_LIST).toBe(client.PROBLEM_CODE_LIST);
  });

  it('names the code of every error class once, as a static code that is a row or stays internal', () => {
    const classes = errorClasses();
    expect(classes.map(([name]) => name)).toEqual(
      expect.arrayContaining([
        'CredentialNotFoundError',
        'InvalidSubscriptionInputError',
        'PoolNotFoundError',
      ]),
    );
    for (const [name, cls] of classes) {
      expect(Object.hasOwn(cls, 'code'), `${name} names its static code`).toBe(true);
      expect(isProblemCode(cls.code) || INTERNAL_CODES.has(cls.code), `${name}: ${cls.code}`).toBe(true);
    }
  });

  it('keeps internal codes out of the table', () => {
    for (const code of INTERNAL_CODES) expect(isProblemCode(code), code).toBe(false);
  });

  it('gives an instance the static code of its class', () => {
    expect(new refresh.CredentialNotFoundError('cred_x')).toMatchObject({
      code: 'CREDENTIAL_NOT_FOUND',
      message: 'no credential cred_x',
      id: 'cred_x',
    });
    expect(new webhooks.SubscriptionNotFoundError('sub_x').message).toBe('no subscription sub_x');
    expect(new store.PoolNotFoundError('pool_x').message).toBe('no pool pool_x');
    expect(new common.EncryptionKeyMissingError('no key').code).toBe('ENCRYPTION_KEY_MISSING');
    expect(new common.SecretDecryptionError('tampered').code).toBe('SECRET_DECRYPTION_FAILED');
    expect(new refresh.DestinationMismatchError(['tokenEndpoint']).code).toBe('DESTINATION_MISMATCH');
    expect(new refresh.InvalidCredentialInputError('scope', 'too long')).toMatchObject({
      code: 'INVALID_CREDENTIAL_INPUT',
      field: 'scope',
    });
  });
});
