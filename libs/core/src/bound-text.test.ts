import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyEvent } from './credential-fold.js';
import {
  boundText,
  classifyGrantFailure,
  type GrantFailure,
  MAX_PROVIDER_TEXT,
} from './error-classification.js';
import { newEvent } from './events.js';

const CONTROL = /[\p{Cc}\u2028\u2029]/u;

describe('boundText', () => {
  it('keeps short clean text as it is', () => {
    expect(boundText('invalid_grant: refresh token expired')).toBe('invalid_grant: refresh token expired');
  });

  it('cuts long text to the bound, marking the cut', () => {
    const out = boundText('x'.repeat(250_000));
    expect(out).toHaveLength(MAX_PROVIDER_TEXT);
    expect(out.endsWith('…')).toBe(true);
  });

  it('turns runs of control characters into one space', () => {
    expect(boundText('line one\r\n\tline two\u0000\u001b[31m\u2028x')).toBe('line one line two [31m x');
  });

  it('never splits a surrogate pair', () => {
    const out = boundText(`${'a'.repeat(MAX_PROVIDER_TEXT - 2)}😀😀😀`);
    expect(out.length).toBeLessThanOrEqual(MAX_PROVIDER_TEXT);
    expect(out).toBe(`${'a'.repeat(MAX_PROVIDER_TEXT - 2)}…`);
  });

  it('holds for any input: bounded, no control characters', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 3_000 }), (s) => {
        const out = boundText(s);
        expect(out.length).toBeLessThanOrEqual(MAX_PROVIDER_TEXT);
        expect(CONTROL.test(out)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});

describe('bounded failures', () => {
  const huge = `${'d'.repeat(125_000)}\r\n${'e'.repeat(125_000)}`;
  const failures: GrantFailure[] = [
    { type: 'oauth_error', error: 'invalid_grant', description: huge, status: 400 },
    { type: 'oauth_error', error: `x${huge}`, description: huge, status: 400 },
    { type: 'oauth_error', error: 'invalid_request', description: huge, status: 503 },
    { type: 'network', code: huge, message: huge },
    { type: 'invalid_response', message: huge },
    { type: 'classified', class: 'transient', code: huge, message: huge },
  ];

  it.each(failures)('classification bounds code and message of a $type failure', (failure) => {
    const c = classifyGrantFailure(failure);
    for (const text of [c.code, c.message]) {
      expect(text.length).toBeLessThanOrEqual(MAX_PROVIDER_TEXT);
      expect(CONTROL.test(text)).toBe(false);
    }
  });

  it('events bound free text however they were built, and so does the projection', () => {
    const failed = newEvent('refresh.failed', 1, {
      attempt: 1,
      class: 'transient',
      code: huge,
      message: huge,
      trigger: 'scheduled',
    });
    expect(failed.type === 'refresh.failed' && failed.data.message.length).toBe(MAX_PROVIDER_TEXT);
    const reauth = newEvent('credential.reauth_required', 1, { code: 'X', message: huge });
    expect(reauth.type === 'credential.reauth_required' && reauth.data.message.length).toBe(
      MAX_PROVIDER_TEXT,
    );
    const revoked = newEvent('credential.revoked', 1, { reason: huge });
    expect(revoked.type === 'credential.revoked' && revoked.data.reason?.length).toBe(MAX_PROVIDER_TEXT);

    // An event stored before messages were bounded still folds into a bounded projection.
    const registered = applyEvent(undefined, {
      type: 'credential.registered',
      credentialId: 'cred_x',
      revision: 1,
      at: 1,
      data: {
        namespace: 'ns',
        kind: 'static',
        name: 'n',
        labels: {},
        grant: {},
        policy: {},
      },
    } as never);
    const p = applyEvent(registered, {
      type: 'refresh.failed',
      credentialId: 'cred_x',
      revision: 2,
      at: 2,
      data: { attempt: 1, class: 'transient', code: huge, message: huge, trigger: 'scheduled' },
    });
    expect(p.lastFailure?.message.length).toBe(MAX_PROVIDER_TEXT);
    expect(p.lastFailure?.code.length).toBe(MAX_PROVIDER_TEXT);
  });
});
