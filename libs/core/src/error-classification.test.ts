import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  classifyGrantFailure,
  type GrantFailure,
  OUTCOME_UNKNOWN,
  PERMANENT_OAUTH_ERRORS,
  parseRetryAfter,
} from './error-classification.js';

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);

const PERMANENT_CODES = [
  ['invalid_grant', 'INVALID_GRANT'],
  ['invalid_client', 'INVALID_CLIENT'],
  ['unauthorized_client', 'UNAUTHORIZED_CLIENT'],
  ['unsupported_grant_type', 'UNSUPPORTED_GRANT_TYPE'],
  ['invalid_scope', 'INVALID_SCOPE'],
  ['invalid_target', 'INVALID_TARGET'],
  ['access_denied', 'ACCESS_DENIED'],
] as const;

const arbNow = fc.integer({ min: 0, max: 4_102_444_800_000 });

const arbHttpFailure = fc.oneof(
  fc.record(
    {
      type: fc.constant('oauth_error' as const),
      error: fc.oneof(
        fc.constantFrom(...PERMANENT_OAUTH_ERRORS, 'invalid_request', 'server_error'),
        fc.string(),
      ),
      description: fc.string(),
      status: fc.integer({ min: 100, max: 599 }),
      retryAfterMs: fc.nat(),
    },
    { requiredKeys: ['type', 'error', 'status'] },
  ),
  fc.record(
    {
      type: fc.constant('http_status' as const),
      status: fc.integer({ min: 100, max: 599 }),
      retryAfterMs: fc.nat(),
    },
    { requiredKeys: ['type', 'status'] },
  ),
);

const arbFailure: fc.Arbitrary<GrantFailure> = fc.oneof(
  arbHttpFailure,
  fc.record(
    { type: fc.constant('network' as const), code: fc.string(), message: fc.string(), sent: fc.boolean() },
    { requiredKeys: ['type', 'message'] },
  ),
  fc.record(
    { type: fc.constant('timeout' as const), sent: fc.boolean(), afterMs: fc.nat() },
    { requiredKeys: ['type'] },
  ),
  fc.record(
    {
      type: fc.constant('invalid_response' as const),
      message: fc.string(),
      status: fc.integer({ min: 100, max: 599 }),
      sent: fc.boolean(),
    },
    { requiredKeys: ['type', 'message'] },
  ),
);

describe('classifyGrantFailure', () => {
  it('knows exactly the documented permanent OAuth error codes', () => {
    expect([...PERMANENT_OAUTH_ERRORS].sort()).toEqual(PERMANENT_CODES.map(([error]) => error).sort());
  });

  it.each(PERMANENT_CODES)('classifies %s as permanent with code %s', (error, code) => {
    expect(
      classifyGrantFailure({ type: 'oauth_error', error, description: 'Refresh token expired', status: 400 }),
    ).toEqual({ class: 'permanent', code, message: `${error}: Refresh token expired`, status: 400 });
  });

  it.each(PERMANENT_CODES)('keeps %s permanent whatever the HTTP status', (error, code) => {
    for (const status of [400, 401, 403, 429, 500, 503]) {
      const result = classifyGrantFailure({ type: 'oauth_error', error, status });
      expect(result.class).toBe('permanent');
      expect(result.code).toBe(code);
    }
  });

  it('writes the message without a description when there is none', () => {
    expect(classifyGrantFailure({ type: 'oauth_error', error: 'invalid_grant', status: 400 }).message).toBe(
      'invalid_grant',
    );
  });

  it.each([
    'Token has been revoked',
    'refresh token REVOKED by user',
    'Unknown token',
    'invalid token',
    'token not found',
    'Token is expired',
    'token expired',
  ])('classifies 400 invalid_request "%s" as permanent TOKEN_REVOKED', (description) => {
    expect(
      classifyGrantFailure({ type: 'oauth_error', error: 'invalid_request', description, status: 400 }),
    ).toEqual({
      class: 'permanent',
      code: 'TOKEN_REVOKED',
      message: `invalid_request: ${description}`,
      status: 400,
    });
  });

  it.each([
    ['without a revocation hint', 'Missing parameter: grant_type', 400, 'OAUTH_ERROR'],
    ['with a revocation hint on a status other than 400', 'token revoked', 500, 'PROVIDER_UNAVAILABLE'],
  ] as const)('keeps an invalid_request %s transient', (_case, description, status, code) => {
    expect(
      classifyGrantFailure({ type: 'oauth_error', error: 'invalid_request', description, status }),
    ).toMatchObject({ class: 'transient', code, status });
  });

  it('classifies an OAuth error on 429 as RATE_LIMITED and keeps Retry-After', () => {
    expect(
      classifyGrantFailure({ type: 'oauth_error', error: 'slow_down', status: 429, retryAfterMs: 30_000 }),
    ).toEqual({
      class: 'transient',
      code: 'RATE_LIMITED',
      message: 'slow_down',
      status: 429,
      retryAfterMs: 30_000,
    });
  });

  it('classifies an unknown or server-side OAuth error as transient', () => {
    for (const [error, status, code] of [
      ['server_error', 500, 'PROVIDER_UNAVAILABLE'],
      ['temporarily_unavailable', 503, 'PROVIDER_UNAVAILABLE'],
      ['something_new', 400, 'OAUTH_ERROR'],
    ] as const) {
      const result = classifyGrantFailure({ type: 'oauth_error', error, status, retryAfterMs: 5_000 });
      expect(result).toEqual({
        class: 'transient',
        code,
        message: error,
        status,
        retryAfterMs: 5_000,
      });
    }
  });

  it.each([500, 503, 599])('classifies HTTP %i as transient PROVIDER_UNAVAILABLE', (status) => {
    expect(classifyGrantFailure({ type: 'http_status', status })).toEqual({
      class: 'transient',
      code: 'PROVIDER_UNAVAILABLE',
      message: `provider answered ${status}`,
      status,
    });
  });

  it('keeps Retry-After on a 503', () => {
    expect(classifyGrantFailure({ type: 'http_status', status: 503, retryAfterMs: 120_000 })).toMatchObject({
      class: 'transient',
      code: 'PROVIDER_UNAVAILABLE',
      retryAfterMs: 120_000,
    });
  });

  it('classifies HTTP 429 as transient RATE_LIMITED and keeps Retry-After', () => {
    expect(classifyGrantFailure({ type: 'http_status', status: 429, retryAfterMs: 60_000 })).toEqual({
      class: 'transient',
      code: 'RATE_LIMITED',
      message: 'provider rate limit (429)',
      status: 429,
      retryAfterMs: 60_000,
    });
  });

  it('omits retryAfterMs when the provider sent none', () => {
    expect(classifyGrantFailure({ type: 'http_status', status: 429 })).not.toHaveProperty('retryAfterMs');
    expect(
      classifyGrantFailure({ type: 'oauth_error', error: 'invalid_grant', status: 400 }),
    ).not.toHaveProperty('retryAfterMs');
  });

  it.each([401, 403])('classifies a bare HTTP %i as a permanent INVALID_CLIENT', (status) => {
    expect(classifyGrantFailure({ type: 'http_status', status })).toMatchObject({
      class: 'permanent',
      code: 'INVALID_CLIENT',
      status,
    });
  });

  it.each([302, 400, 404, 418])('classifies an unexpected HTTP %i as transient', (status) => {
    expect(classifyGrantFailure({ type: 'http_status', status })).toMatchObject({
      class: 'transient',
      code: 'UNEXPECTED_STATUS',
      status,
    });
  });

  it.each([502, 504])(
    'classifies a gateway HTTP %i as OUTCOME_UNKNOWN (the request may have been forwarded)',
    (status) => {
      expect(classifyGrantFailure({ type: 'http_status', status, sent: true })).toEqual({
        class: 'transient',
        code: OUTCOME_UNKNOWN,
        outcome: 'unknown',
        message: `gateway answered ${status}`,
        status,
      });
    },
  );

  it('keeps an OAuth error body on a 502 or 503 a provider answer, with no outcome', () => {
    for (const status of [502, 503]) {
      expect(classifyGrantFailure({ type: 'oauth_error', error: 'temporarily_unavailable', status })).toEqual(
        {
          class: 'transient',
          code: 'PROVIDER_UNAVAILABLE',
          message: 'temporarily_unavailable',
          status,
        },
      );
    }
  });

  it('classifies network errors before sending as NETWORK_ERROR, not sent', () => {
    expect(
      classifyGrantFailure({
        type: 'network',
        code: 'ECONNREFUSED',
        message: 'connect refused',
        sent: false,
      }),
    ).toEqual({
      class: 'transient',
      code: 'NETWORK_ERROR',
      outcome: 'not_sent',
      message: 'ECONNREFUSED: connect refused',
    });
    // A refused connection or an unknown host cannot have sent anything, whatever the transport said.
    for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'OUTBOUND_URL_REFUSED']) {
      expect(classifyGrantFailure({ type: 'network', code, message: 'x' })).toMatchObject({
        code: 'NETWORK_ERROR',
        outcome: 'not_sent',
      });
    }
  });

  it('classifies a network error after sending, or with nothing known, as OUTCOME_UNKNOWN', () => {
    expect(
      classifyGrantFailure({ type: 'network', code: 'ECONNRESET', message: 'read ECONNRESET', sent: true }),
    ).toEqual({
      class: 'transient',
      code: OUTCOME_UNKNOWN,
      outcome: 'unknown',
      message: 'connection reset after the request was sent (ECONNRESET: read ECONNRESET)',
    });
    expect(classifyGrantFailure({ type: 'network', message: 'socket hang up' })).toMatchObject({
      code: OUTCOME_UNKNOWN,
      outcome: 'unknown',
    });
  });

  it('classifies a timeout before connecting as TIMEOUT, not sent', () => {
    expect(classifyGrantFailure({ type: 'timeout', sent: false, afterMs: 2_000 })).toEqual({
      class: 'transient',
      code: 'TIMEOUT',
      outcome: 'not_sent',
      message: 'provider not reachable within 2 s (request not sent)',
    });
  });

  it('classifies a timeout after sending, or with nothing known, as OUTCOME_UNKNOWN', () => {
    expect(classifyGrantFailure({ type: 'timeout', sent: true, afterMs: 30_000 })).toEqual({
      class: 'transient',
      code: OUTCOME_UNKNOWN,
      outcome: 'unknown',
      message: 'no answer within 30 s after the request was sent',
    });
    expect(classifyGrantFailure({ type: 'timeout' })).toMatchObject({
      code: OUTCOME_UNKNOWN,
      outcome: 'unknown',
    });
  });

  it('classifies an unparseable 2xx answer as OUTCOME_UNKNOWN', () => {
    expect(
      classifyGrantFailure({ type: 'invalid_response', message: 'no access_token in response', status: 200 }),
    ).toEqual({
      class: 'transient',
      code: OUTCOME_UNKNOWN,
      outcome: 'unknown',
      message: 'unparseable 200 answer: no access_token in response',
      status: 200,
    });
  });

  it('classifies an invalid non-2xx answer, or a failure before sending, as INVALID_RESPONSE', () => {
    expect(classifyGrantFailure({ type: 'invalid_response', message: 'redirect', status: 302 })).toEqual({
      class: 'transient',
      code: 'INVALID_RESPONSE',
      message: 'redirect',
      status: 302,
    });
    expect(classifyGrantFailure({ type: 'invalid_response', message: 'bad key', sent: false })).toEqual({
      class: 'transient',
      code: 'INVALID_RESPONSE',
      outcome: 'not_sent',
      message: 'bad key',
    });
  });

  it('sets an outcome exactly on transport failures, never on an answer the provider gave', () => {
    fc.assert(
      fc.property(arbFailure, (failure) => {
        const result = classifyGrantFailure(failure);
        if (failure.type === 'oauth_error') expect(result.outcome).toBeUndefined();
        if (result.code === OUTCOME_UNKNOWN)
          expect(result).toMatchObject({ class: 'transient', outcome: 'unknown' });
        if (result.outcome === 'unknown') expect(result.code).toBe(OUTCOME_UNKNOWN);
      }),
    );
  });

  it('always yields a class and a stable upper-case code', () => {
    fc.assert(
      fc.property(arbFailure, (failure) => {
        const result = classifyGrantFailure(failure);
        expect(['transient', 'permanent']).toContain(result.class);
        expect(result.code).toMatch(/^[A-Z][A-Z_]*$/);
        expect(typeof result.message).toBe('string');
      }),
    );
  });

  it('is permanent only for the permanent codes, a revoked token, or a client refused outright', () => {
    fc.assert(
      fc.property(arbFailure, (failure) => {
        const result = classifyGrantFailure(failure);
        const expectedPermanent =
          (failure.type === 'oauth_error' &&
            (PERMANENT_OAUTH_ERRORS.has(failure.error) ||
              (failure.status === 400 &&
                failure.error === 'invalid_request' &&
                /revoked|unknown token|invalid token|token (?:is )?(?:not found|expired)/i.test(
                  failure.description ?? '',
                )))) ||
          (failure.type === 'http_status' && (failure.status === 401 || failure.status === 403));
        expect(result.class).toBe(expectedPermanent ? 'permanent' : 'transient');
      }),
    );
  });

  it('keeps the status and Retry-After of any HTTP-level failure', () => {
    fc.assert(
      fc.property(arbHttpFailure, (failure) => {
        const result = classifyGrantFailure(failure);
        expect(result.status).toBe(failure.status);
        expect(result.retryAfterMs).toBe(failure.retryAfterMs);
      }),
    );
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds', () => {
    expect(parseRetryAfter('120', NOW)).toBe(120_000);
    expect(parseRetryAfter('0', NOW)).toBe(0);
    expect(parseRetryAfter('  30 ', NOW)).toBe(30_000);
  });

  it('reads an HTTP date relative to the given now', () => {
    const header = new Date(NOW + 90_000).toUTCString();
    expect(parseRetryAfter(header, NOW)).toBe(90_000);
    expect(parseRetryAfter('Wed, 15 Jan 2025 12:05:00 GMT', NOW)).toBe(300_000);
  });

  it('turns an HTTP date in the past into zero', () => {
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', NOW)).toBe(0);
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['empty', ''],
    ['garbage', 'soon'],
    ['a duration with units', '5 minutes'],
  ])('returns undefined for %s', (_label, value) => {
    expect(parseRetryAfter(value, NOW)).toBeUndefined();
  });

  it('round-trips any delta-seconds value', () => {
    fc.assert(
      fc.property(fc.nat({ max: 10_000_000 }), arbNow, (seconds, now) => {
        expect(parseRetryAfter(String(seconds), now)).toBe(seconds * 1000);
      }),
    );
  });

  it('round-trips any HTTP date after now, to the second', () => {
    fc.assert(
      fc.property(fc.nat({ max: 10_000_000 }), arbNow, (seconds, nowSeconds) => {
        const now = nowSeconds - (nowSeconds % 1000);
        const header = new Date(now + seconds * 1000).toUTCString();
        expect(parseRetryAfter(header, now)).toBe(seconds * 1000);
      }),
    );
  });

  it('never yields a negative delay', () => {
    fc.assert(
      fc.property(fc.string(), arbNow, (value, now) => {
        const result = parseRetryAfter(value, now);
        expect(result === undefined || result >= 0).toBe(true);
      }),
    );
  });
});
