import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  computeRefreshAt,
  DEFAULT_REFRESH_POLICY,
  jwtExpiry,
  type RefreshPolicy,
  refreshBuffer,
  resolvePolicy,
  tokenLifetime,
} from './refresh-policy.js';

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

const b64url = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
const jwtWithPayload = (payloadJson: string) =>
  `${b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }))}.${b64url(payloadJson)}.c2lnbmF0dXJl`;
const jwt = (payload: Record<string, unknown>) => jwtWithPayload(JSON.stringify(payload));

const arbIssuedAt = fc.integer({ min: 0, max: 4_102_444_800_000 });
const arbLifetime = fc.integer({ min: 1, max: 30 * 24 * 3_600_000 });
/** A value from `Math.random()`: [0, 1). */
const arbRandom = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

/**
 * A valid policy: fraction in (0, 1], 1 ms ≤ minBuffer ≤ maxBuffer, jitter up to the 10 % the
 * product promises. (A floor of 0 with a vanishing fraction would make "before expiry" mean "at expiry".)
 */
function arbPolicy(): fc.Arbitrary<RefreshPolicy> {
  return fc
    .record({
      fraction: fc.double({ min: 0, max: 1, minExcluded: true, noNaN: true }),
      a: fc.integer({ min: 1, max: 10 * 3_600_000 }),
      b: fc.integer({ min: 1, max: 10 * 3_600_000 }),
      jitterFraction: fc.double({ min: 0, max: 0.1, noNaN: true }),
    })
    .map(({ fraction, a, b, jitterFraction }) => ({
      fraction,
      minBufferMs: Math.min(a, b),
      maxBufferMs: Math.max(a, b),
      defaultLifetimeMs: 3_600_000,
      jitterFraction,
    }));
}

/** A random source that always returns the same value. */
const fixed = (value: number) => () => value;

describe('jwtExpiry', () => {
  it('reads the exp claim in epoch milliseconds', () => {
    expect(jwtExpiry(jwt({ sub: 'svc', exp: 1_736_942_400 }))).toBe(1_736_942_400_000);
  });

  it('keeps a fractional exp', () => {
    expect(jwtExpiry(jwt({ exp: 1_736_942_400.5 }))).toBe(1_736_942_400_500);
  });

  it.each([
    ['an opaque token', 'gho_16C7e42F292c6912E7710c838347Ae178B4a'],
    ['an empty string', ''],
    ['two segments', `${b64url('{"alg":"none"}')}.${b64url('{"exp":1}')}`],
    ['four segments', `a.${b64url('{"exp":1}')}.c.d`],
    ['an empty payload segment', 'header..signature'],
    ['a payload that is not base64url JSON', 'header.!!!not-json!!!.signature'],
    ['a payload that decodes to non-JSON text', `h.${b64url('hello world')}.s`],
    ['a JSON payload that is not an object', jwtWithPayload('42')],
    ['a null payload', jwtWithPayload('null')],
    ['an array payload', jwtWithPayload('[1700000000]')],
    ['a payload without exp', jwt({ sub: 'svc', iat: 1_700_000_000 })],
    ['an exp that is a string', jwt({ exp: '1700000000' })],
    ['an exp that is null', jwt({ exp: null })],
    ['an exp that overflows to Infinity', jwtWithPayload('{"exp":1e999}')],
    ['an exp that overflows once in milliseconds', jwtWithPayload('{"exp":1e307}')],
    ['an exp of -Infinity', jwtWithPayload('{"exp":-1e999}')],
  ])('returns undefined for %s', (_label, token) => {
    expect(jwtExpiry(token)).toBeUndefined();
  });

  it('never throws and returns a finite number or undefined for any string', () => {
    fc.assert(
      fc.property(fc.string(), (token) => {
        const exp = jwtExpiry(token);
        expect(exp === undefined || Number.isFinite(exp)).toBe(true);
      }),
    );
  });

  it('returns undefined for any string without exactly two dots', () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => s.split('.').length !== 3),
        (token) => {
          expect(jwtExpiry(token)).toBeUndefined();
        },
      ),
    );
  });

  it('round-trips any integer exp claim', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 8_000_000_000 }),
        fc.dictionary(fc.string(), fc.string()),
        (exp, extra) => {
          expect(jwtExpiry(jwt({ ...extra, exp }))).toBe(exp * 1000);
        },
      ),
    );
  });
});

describe('tokenLifetime', () => {
  const policy = { defaultLifetimeMs: 30 * MINUTE };

  it('measures expires_in from the moment the response was received', () => {
    expect(tokenLifetime({ receivedAt: NOW, expiresInSeconds: 3600 }, policy)).toEqual({
      expiresAt: NOW + HOUR,
      source: 'expires_in',
    });
  });

  it('truncates a fractional expires_in to whole milliseconds', () => {
    expect(tokenLifetime({ receivedAt: NOW, expiresInSeconds: 1.0005 }, policy)).toEqual({
      expiresAt: NOW + 1000,
      source: 'expires_in',
    });
  });

  it('prefers expires_in over the JWT exp claim when both are present', () => {
    const accessToken = jwt({ exp: (NOW + 10 * HOUR) / 1000 });
    expect(tokenLifetime({ receivedAt: NOW, expiresInSeconds: 300, accessToken }, policy)).toEqual({
      expiresAt: NOW + 5 * MINUTE,
      source: 'expires_in',
    });
  });

  it('falls back to the JWT exp when expires_in is absent', () => {
    const exp = (NOW + 2 * HOUR) / 1000;
    expect(tokenLifetime({ receivedAt: NOW, accessToken: jwt({ exp }) }, policy)).toEqual({
      expiresAt: NOW + 2 * HOUR,
      source: 'jwt_exp',
    });
  });

  it.each([
    ['zero', 0],
    ['negative', -60],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['too large to count in milliseconds', 1e306],
  ])('falls back to the JWT exp when expires_in is %s', (_label, expiresInSeconds) => {
    const exp = (NOW + 2 * HOUR) / 1000;
    expect(tokenLifetime({ receivedAt: NOW, expiresInSeconds, accessToken: jwt({ exp }) }, policy)).toEqual({
      expiresAt: NOW + 2 * HOUR,
      source: 'jwt_exp',
    });
  });

  it('uses the JWT exp as an absolute instant, not relative to receipt', () => {
    const exp = (NOW + HOUR) / 1000;
    const late = tokenLifetime({ receivedAt: NOW + 10 * MINUTE, accessToken: jwt({ exp }) }, policy);
    expect(late.expiresAt).toBe(NOW + HOUR);
  });

  it('falls back to the default lifetime for an opaque token', () => {
    expect(tokenLifetime({ receivedAt: NOW, accessToken: 'ya29.a0AfH6SMBopaque' }, policy)).toEqual({
      expiresAt: NOW + 30 * MINUTE,
      source: 'default',
    });
  });

  it('falls back to the default lifetime for a garbage token', () => {
    expect(tokenLifetime({ receivedAt: NOW, accessToken: 'x.%%%.y' }, policy)).toEqual({
      expiresAt: NOW + 30 * MINUTE,
      source: 'default',
    });
  });

  it('falls back to the default lifetime for a JWT whose exp overflows', () => {
    expect(tokenLifetime({ receivedAt: NOW, accessToken: jwtWithPayload('{"exp":1e999}') }, policy)).toEqual({
      expiresAt: NOW + 30 * MINUTE,
      source: 'default',
    });
  });

  it('falls back to the default lifetime for a JWT without exp', () => {
    expect(tokenLifetime({ receivedAt: NOW, accessToken: jwt({ sub: 'svc' }) }, policy).source).toBe(
      'default',
    );
  });

  it('falls back to the default lifetime without a token or expires_in', () => {
    expect(tokenLifetime({ receivedAt: NOW }, policy)).toEqual({
      expiresAt: NOW + 30 * MINUTE,
      source: 'default',
    });
  });

  it('falls back to the default lifetime for an empty token', () => {
    expect(tokenLifetime({ receivedAt: NOW, accessToken: '' }, policy).source).toBe('default');
  });

  it('uses expires_in for any positive value, whatever the token', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4_000_000_000_000 }),
        fc.integer({ min: 1, max: 10_000_000 }),
        fc.option(fc.string(), { nil: undefined }),
        (receivedAt, expiresInSeconds, accessToken) => {
          const lifetime = tokenLifetime({ receivedAt, expiresInSeconds, accessToken }, policy);
          expect(lifetime).toEqual({ expiresAt: receivedAt + expiresInSeconds * 1000, source: 'expires_in' });
        },
      ),
    );
  });

  it('always yields a finite expiry for any string token', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_000_000_000_000 }), fc.string(), (receivedAt, accessToken) => {
        const lifetime = tokenLifetime({ receivedAt, accessToken }, policy);
        expect(Number.isFinite(lifetime.expiresAt)).toBe(true);
        if (lifetime.source === 'default')
          expect(lifetime.expiresAt).toBe(receivedAt + policy.defaultLifetimeMs);
      }),
    );
  });
});

describe('resolvePolicy', () => {
  it('returns the base policy unchanged without overrides', () => {
    expect(resolvePolicy(DEFAULT_REFRESH_POLICY)).toEqual(DEFAULT_REFRESH_POLICY);
    expect(resolvePolicy(DEFAULT_REFRESH_POLICY, {})).toEqual(DEFAULT_REFRESH_POLICY);
  });

  it('converts second overrides to milliseconds', () => {
    expect(
      resolvePolicy(DEFAULT_REFRESH_POLICY, {
        fraction: 0.5,
        minBufferSeconds: 30,
        maxBufferSeconds: 600,
        defaultLifetimeSeconds: 900,
      }),
    ).toEqual({
      fraction: 0.5,
      minBufferMs: 30_000,
      maxBufferMs: 600_000,
      defaultLifetimeMs: 900_000,
      jitterFraction: DEFAULT_REFRESH_POLICY.jitterFraction,
    });
  });

  it('overrides only the fields given', () => {
    expect(resolvePolicy(DEFAULT_REFRESH_POLICY, { minBufferSeconds: 5 })).toEqual({
      ...DEFAULT_REFRESH_POLICY,
      minBufferMs: 5_000,
    });
  });

  it('honours an override of zero rather than treating it as absent', () => {
    const policy = resolvePolicy(DEFAULT_REFRESH_POLICY, { minBufferSeconds: 0 });
    expect(policy.minBufferMs).toBe(0);
  });

  it('does not modify the base policy', () => {
    const base = { ...DEFAULT_REFRESH_POLICY };
    resolvePolicy(base, { fraction: 0.9, maxBufferSeconds: 1 });
    expect(base).toEqual(DEFAULT_REFRESH_POLICY);
  });

  it('never changes the jitter fraction', () => {
    expect(
      resolvePolicy({ ...DEFAULT_REFRESH_POLICY, jitterFraction: 0.05 }, { fraction: 0.2 }).jitterFraction,
    ).toBe(0.05);
  });
});

describe('refreshBuffer', () => {
  it('keeps a third of a one-hour token by default: 20 minutes', () => {
    expect(refreshBuffer(HOUR, DEFAULT_REFRESH_POLICY)).toBe(20 * MINUTE);
  });

  it('raises the buffer to the 60 s floor for a 150 s token', () => {
    expect(refreshBuffer(150 * SECOND, DEFAULT_REFRESH_POLICY)).toBe(MINUTE);
  });

  it('caps the buffer at one hour for a 24-hour token', () => {
    expect(refreshBuffer(24 * HOUR, DEFAULT_REFRESH_POLICY)).toBe(HOUR);
  });

  it('caps the 60 s floor at half the lifetime for a 10 s token', () => {
    expect(refreshBuffer(10 * SECOND, DEFAULT_REFRESH_POLICY)).toBe(5 * SECOND);
  });

  it('lets a configured fraction above one half reach past half the lifetime', () => {
    const policy = { ...DEFAULT_REFRESH_POLICY, fraction: 0.75 };
    expect(refreshBuffer(HOUR, policy)).toBe(45 * MINUTE);
  });

  it('never keeps more than 90 % of the lifetime, whatever the fraction', () => {
    const policy = { ...DEFAULT_REFRESH_POLICY, fraction: 1, maxBufferMs: 10 * HOUR };
    expect(refreshBuffer(HOUR, policy)).toBe(0.9 * HOUR);
  });

  it.each([0, -1, -HOUR])('is zero for a lifetime of %i ms', (lifetime) => {
    expect(refreshBuffer(lifetime, DEFAULT_REFRESH_POLICY)).toBe(0);
  });

  it('stays between the implemented lower bound and the upper bounds for any valid policy', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000_000_000 }), arbPolicy(), (lifetime, policy) => {
        const buffer = refreshBuffer(lifetime, policy);
        // Lower bound: the floor, unless half the lifetime is smaller.
        expect(buffer).toBeGreaterThanOrEqual(Math.min(policy.minBufferMs, lifetime / 2));
        expect(buffer).toBeLessThanOrEqual(policy.maxBufferMs);
        expect(buffer).toBeLessThanOrEqual(0.9 * lifetime);
        expect(buffer).toBeLessThanOrEqual(Math.max(lifetime / 2, policy.fraction * lifetime));
      }),
    );
  });

  it('is exactly fraction × lifetime when that lies within the bounds and below half the lifetime', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000_000_000 }),
        fc.double({ min: 0, max: 0.5, minExcluded: true, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 3_600_000 }),
        (lifetime, fraction, below, above) => {
          const proportional = fraction * lifetime;
          const policy = {
            ...DEFAULT_REFRESH_POLICY,
            fraction,
            minBufferMs: Math.floor(proportional * below),
            maxBufferMs: Math.ceil(proportional) + above,
          };
          expect(refreshBuffer(lifetime, policy)).toBe(proportional);
        },
      ),
    );
  });

  it('never shrinks as the lifetime grows', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000_000_000 }),
        fc.integer({ min: 0, max: 10_000_000_000 }),
        arbPolicy(),
        (lifetime, extra, policy) => {
          expect(refreshBuffer(lifetime + extra, policy)).toBeGreaterThanOrEqual(
            refreshBuffer(lifetime, policy),
          );
        },
      ),
    );
  });
});

describe('computeRefreshAt', () => {
  it('refreshes a one-hour token 20 minutes before expiry without jitter', () => {
    expect(computeRefreshAt(NOW, NOW + HOUR, DEFAULT_REFRESH_POLICY, fixed(0))).toBe(NOW + 40 * MINUTE);
  });

  it('subtracts up to 10 % of the buffer as jitter', () => {
    // random → 0.5: half of the 2-minute jitter range.
    expect(computeRefreshAt(NOW, NOW + HOUR, DEFAULT_REFRESH_POLICY, fixed(0.5))).toBe(NOW + 39 * MINUTE);
    const almostOne = computeRefreshAt(NOW, NOW + HOUR, DEFAULT_REFRESH_POLICY, fixed(0.999_999));
    expect(almostOne).toBeGreaterThan(NOW + 38 * MINUTE - 1);
    expect(almostOne).toBeLessThanOrEqual(NOW + 38 * MINUTE + 10);
  });

  it('refreshes a 10 s token with a 60 s floor after about 5 s, not at once', () => {
    const at = computeRefreshAt(NOW, NOW + 10 * SECOND, DEFAULT_REFRESH_POLICY, fixed(0));
    expect(at).toBe(NOW + 5 * SECOND);
    const jittered = computeRefreshAt(NOW, NOW + 10 * SECOND, DEFAULT_REFRESH_POLICY, fixed(0.99));
    expect(jittered).toBeGreaterThanOrEqual(NOW + 4_500);
    expect(jittered).toBeLessThan(NOW + 5 * SECOND);
  });

  it('refreshes a 24-hour token one hour before expiry (the maximum buffer)', () => {
    expect(computeRefreshAt(NOW, NOW + 24 * HOUR, DEFAULT_REFRESH_POLICY, fixed(0))).toBe(NOW + 23 * HOUR);
  });

  it('refreshes a 150 s token 60 s before expiry (the minimum buffer)', () => {
    expect(computeRefreshAt(NOW, NOW + 150 * SECOND, DEFAULT_REFRESH_POLICY, fixed(0))).toBe(
      NOW + 90 * SECOND,
    );
  });

  it('applies per-credential overrides', () => {
    const policy = resolvePolicy(DEFAULT_REFRESH_POLICY, { fraction: 0.5, maxBufferSeconds: 600 });
    expect(computeRefreshAt(NOW, NOW + HOUR, policy, fixed(0))).toBe(NOW + 50 * MINUTE);
  });

  it('refreshes at once when the token is already expired or expires on issue', () => {
    expect(computeRefreshAt(NOW, NOW, DEFAULT_REFRESH_POLICY, fixed(0.5))).toBe(NOW);
    expect(computeRefreshAt(NOW, NOW - MINUTE, DEFAULT_REFRESH_POLICY, fixed(0.5))).toBe(NOW);
  });

  it('clamps a misbehaving random source into [0, 1]', () => {
    expect(computeRefreshAt(NOW, NOW + HOUR, DEFAULT_REFRESH_POLICY, fixed(-3))).toBe(NOW + 40 * MINUTE);
    expect(computeRefreshAt(NOW, NOW + HOUR, DEFAULT_REFRESH_POLICY, fixed(7))).toBe(NOW + 38 * MINUTE);
  });

  it('refreshes at expiry, never after, when the policy allows no buffer at all', () => {
    const noBuffer = { ...DEFAULT_REFRESH_POLICY, minBufferMs: 0, maxBufferMs: 0 };
    expect(computeRefreshAt(NOW, NOW + HOUR, noBuffer, fixed(0.5))).toBe(NOW + HOUR);
  });

  it('spreads credentials issued together over the jitter window', () => {
    const times = new Set(
      [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9].map((r) =>
        computeRefreshAt(NOW, NOW + HOUR, DEFAULT_REFRESH_POLICY, fixed(r)),
      ),
    );
    expect(times.size).toBe(10);
  });

  it('always refreshes after issue and strictly before expiry', () => {
    fc.assert(
      fc.property(arbIssuedAt, arbLifetime, arbPolicy(), arbRandom, (issuedAt, lifetime, policy, random) => {
        const expiresAt = issuedAt + lifetime;
        const refreshAt = computeRefreshAt(issuedAt, expiresAt, policy, fixed(random));
        expect(Number.isInteger(refreshAt)).toBe(true);
        expect(refreshAt).toBeGreaterThanOrEqual(issuedAt);
        expect(refreshAt).toBeLessThan(expiresAt);
      }),
    );
  });

  it('keeps the buffer before expiry and adds at most 10 % of it as jitter', () => {
    fc.assert(
      fc.property(arbIssuedAt, arbLifetime, arbPolicy(), arbRandom, (issuedAt, lifetime, policy, random) => {
        const expiresAt = issuedAt + lifetime;
        const buffer = refreshBuffer(lifetime, policy);
        const refreshAt = computeRefreshAt(issuedAt, expiresAt, policy, fixed(random));
        expect(refreshAt).toBeLessThanOrEqual(expiresAt - buffer);
        expect(refreshAt).toBeGreaterThanOrEqual(expiresAt - 1.1 * buffer - 1);
      }),
    );
  });

  it('moves the refresh earlier, never later, as random grows', () => {
    fc.assert(
      fc.property(
        arbIssuedAt,
        arbLifetime,
        arbPolicy(),
        arbRandom,
        arbRandom,
        (issuedAt, lifetime, policy, a, b) => {
          const [low, high] = a <= b ? [a, b] : [b, a];
          const expiresAt = issuedAt + lifetime;
          expect(computeRefreshAt(issuedAt, expiresAt, policy, fixed(high))).toBeLessThanOrEqual(
            computeRefreshAt(issuedAt, expiresAt, policy, fixed(low)),
          );
        },
      ),
    );
  });

  it('stays within [issuedAt, expiresAt] for any jitter fraction up to 100 % and a zero floor', () => {
    const wildPolicy = fc.record({
      fraction: fc.double({ min: 0, max: 1, minExcluded: true, noNaN: true }),
      minBufferMs: fc.constant(0),
      maxBufferMs: fc.integer({ min: 0, max: 10 * 3_600_000 }),
      defaultLifetimeMs: fc.constant(3_600_000),
      jitterFraction: fc.double({ min: 0, max: 1, noNaN: true }),
    });
    fc.assert(
      fc.property(arbIssuedAt, arbLifetime, wildPolicy, arbRandom, (issuedAt, lifetime, policy, random) => {
        const expiresAt = issuedAt + lifetime;
        const refreshAt = computeRefreshAt(issuedAt, expiresAt, policy, fixed(random));
        expect(refreshAt).toBeGreaterThanOrEqual(issuedAt);
        expect(refreshAt).toBeLessThanOrEqual(expiresAt);
      }),
    );
  });
});
