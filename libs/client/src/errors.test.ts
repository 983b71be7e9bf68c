import { describe, expect, it } from 'vitest';
import * as sdk from './index.js';

const {
  CLIENT_ERROR_CODES,
  ClientClosedError,
  isProblemCode,
  PROBLEM_CODE_LIST,
  PROBLEM_CODES,
  TokenkeeperApiError,
} = sdk;

describe('error codes', () => {
  it('lists every problem code of the table once', () => {
    expect(PROBLEM_CODE_LIST).toEqual(Object.keys(PROBLEM_CODES));
    expect(new Set(PROBLEM_CODE_LIST).size).toBe(PROBLEM_CODE_LIST.length);
    expect(isProblemCode('CREDENTIAL_NOT_FOUND')).toBe(true);
    expect(isProblemCode('toString')).toBe(false);
    expect(isProblemCode(404)).toBe(false);
  });

  it('keeps the client’s own codes apart from the API’s', () => {
    for (const code of CLIENT_ERROR_CODES) expect(isProblemCode(code), code).toBe(false);
  });

  it('tells an error’s code with is() and problemCode', () => {
    const notFound = new TokenkeeperApiError('CREDENTIAL_NOT_FOUND', 404, 'no credential');
    expect(notFound.is('CREDENTIAL_NOT_FOUND')).toBe(true);
    expect(notFound.is('NOT_FOUND', 'FORBIDDEN')).toBe(false);
    expect(notFound.problemCode).toBe('CREDENTIAL_NOT_FOUND');
    const newer = new TokenkeeperApiError('SOMETHING_NEWER', 409, 'a newer server');
    expect(newer.code).toBe('SOMETHING_NEWER');
    expect(newer.problemCode).toBeUndefined();
    const closed = new ClientClosedError();
    expect(closed.is('CLIENT_CLOSED')).toBe(true);
    expect(closed.problemCode).toBeUndefined();
  });
});
