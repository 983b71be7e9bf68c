import type { ArgumentsHost } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { PROBLEM_CODES, TokenkeeperError } from '#core';
import { CredentialNotFoundError, InvalidCredentialInputError, TokenUnavailableError } from '#refresh';
import { FencedError, RevisionConflictError } from '#store';
import { ProblemException } from './problem.js';
import { ProblemDetailsFilter } from './problem-details.filter.js';

/** Runs the filter on one error and returns what the client gets. */
function answer(err: unknown): {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
} {
  const out = { status: 0, headers: {} as Record<string, string>, body: {} as Record<string, unknown> };
  const reply = {
    status(s: number) {
      out.status = s;
      return reply;
    },
    header(name: string, value: string) {
      out.headers[name] = value;
      return reply;
    },
    send(body: Record<string, unknown>) {
      out.body = body;
      return reply;
    },
  };
  const host = {
    switchToHttp: () => ({
      getResponse: () => reply,
      getRequest: () => ({ url: '/v1/x?y=1', method: 'GET' }),
    }),
  } as unknown as ArgumentsHost;
  new ProblemDetailsFilter().catch(err, host);
  return out;
}

describe('problem mapping by table', () => {
  it('takes status and title from the code’s row', () => {
    const r = answer(new CredentialNotFoundError('cred_x'));
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({
      code: 'CREDENTIAL_NOT_FOUND',
      title: PROBLEM_CODES.CREDENTIAL_NOT_FOUND.title,
      detail: 'no credential cred_x',
      instance: '/v1/x',
    });
  });

  it('names the field of a field error', () => {
    const r = answer(new InvalidCredentialInputError('tokenEndpoint', 'give tokenEndpoint'));
    expect(r.status).toBe(422);
    expect(r.body.errors).toEqual([{ field: 'tokenEndpoint', message: 'give tokenEndpoint' }]);
  });

  it('gives a token’s unavailability its reason and Retry-After', () => {
    const r = answer(new TokenUnavailableError('network', 'provider down', 7));
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('7');
    expect(r.body).toMatchObject({ code: 'TOKEN_UNAVAILABLE', reason: 'network', retryAfter: 7 });
  });

  it('says what to do on a conflict without internals', () => {
    const r = answer(new RevisionConflictError('cred_x', 3, 4));
    expect(r.status).toBe(409);
    expect(r.body.detail).toBe('read it again and retry the change');
  });

  it('answers 500 without the message for an error code the API does not answer with', () => {
    class SomethingInternal extends TokenkeeperError {
      static override readonly code = 'SOMETHING_INTERNAL';
    }
    for (const err of [new SomethingInternal('secret internals'), new FencedError('cred_x')]) {
      const r = answer(err);
      expect(r.status).toBe(500);
      expect(r.body.code).toBe('INTERNAL');
      expect(JSON.stringify(r.body)).not.toMatch(/secret internals|cred_x/);
    }
  });

  it('answers INTERNAL without the message for an error that names no code of its own', () => {
    class Unnamed extends TokenkeeperError {}
    const r = answer(new Unnamed('secret internals'));
    expect(r.status).toBe(500);
    expect(JSON.stringify(r.body)).not.toContain('secret internals');
  });

  it('takes the status and title of an HttpException-raised problem from the table', () => {
    const r = answer(new ProblemException('RATE_LIMITED', { detail: 'slow down', retryAfter: 3 }));
    expect(r.status).toBe(429);
    expect(r.body).toMatchObject({
      code: 'RATE_LIMITED',
      title: PROBLEM_CODES.RATE_LIMITED.title,
      detail: 'slow down',
      retryAfter: 3,
    });
  });

  it('maps what Fastify refuses before a route to codes of the table', () => {
    expect(
      answer(Object.assign(new Error('Unexpected token'), { statusCode: 400, code: 'FST_ERR_X' })).body.code,
    ).toBe('INVALID_JSON');
    expect(
      answer(Object.assign(new Error('too deep'), { statusCode: 400, code: 'JSON_TOO_DEEP' })).body.code,
    ).toBe('JSON_TOO_DEEP');
    expect(
      answer(Object.assign(new Error('big'), { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' })).status,
    ).toBe(413);
  });
});
