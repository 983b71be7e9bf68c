import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { AgentHealth } from '../../../apps/agent/src/agent.js';
import { showsHealthDetail, startHealthServer } from '../../../apps/agent/src/health/health-server.js';
import { assertHeaderValue } from '../../../apps/agent/src/http/header-value.js';
import { MAX_ERROR_LENGTH, SecretRedactor } from '../../../apps/agent/src/http/secret-redactor.js';

const TOKEN = 'crlf-token-part-one\r\nX-Injected: crlf-token-part-two';

describe('secret redaction of agent errors', () => {
  const redactor = new SecretRedactor(['tk_agent_api_key_123'], () => [TOKEN]);

  it('masks known secrets as quoted raw, JSON-escaped, inspect-escaped, split or cut short', () => {
    const messages = [
      `Headers.append: "Bearer ${TOKEN}" is an invalid header value.`,
      `bad value ${JSON.stringify(TOKEN)}`,
      `The property 'options.env['TK_ACCESS_TOKEN']' must be a string without null bytes. Received 'crlf-token-part-one\\r\\nX-Inj...`,
      'header X-Injected: crlf-token-part-two refused',
      'key tk_agent_api_key_123 refused',
    ];
    for (const message of messages) {
      const safe = redactor.redact(message);
      expect(safe).toContain('[redacted]');
      expect(safe).not.toMatch(/crlf-token-part|tk_agent_api_key_123|X-Inj/);
      expect(safe).not.toMatch(/[\r\n]/);
    }
  });

  it('masks bearer- and JWT-looking text, removes control characters, bounds the length', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl';
    expect(redactor.redact(`got Bearer abc.def-unknown and ${jwt}`)).toBe(
      'got Bearer [redacted] and [redacted-jwt]',
    );
    expect(redactor.redact('a\u0000b\u001bc\nd')).toBe('a b c d');
    const long = redactor.describe(new Error('x'.repeat(10_000)));
    expect(long.length).toBeLessThanOrEqual(MAX_ERROR_LENGTH);
    expect(redactor.describe('plain words stay')).toBe('plain words stay');
  });
});

describe('header values', () => {
  it('refuses CR, LF, NUL and other control characters, naming the header and not the value', () => {
    for (const bad of ['a\rb', 'a\nb', 'a\u0000b', 'a\tb', 'a\u007fb', 'a\u2028b']) {
      const err = (() => {
        try {
          assertHeaderValue(`Bearer secret-${bad}`, 'header authorization of cred_x');
        } catch (e) {
          return e as Error & { code?: string };
        }
      })();
      expect(err?.code).toBe('AGENT_HEADER_VALUE_INVALID');
      expect(err?.message).toMatch(/^header authorization of cred_x holds a character not allowed/);
      expect(err?.message).not.toContain('secret-');
    }
    expect(assertHeaderValue('Bearer abc.DEF-123_~+/=', 'h')).toBe('Bearer abc.DEF-123_~+/=');
  });
});

describe('/ready detail', () => {
  it('goes to loopback callers by default, to everyone or nobody when configured', () => {
    for (const local of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1'])
      expect(showsHealthDetail(local, 'loopback'), local).toBe(true);
    for (const remote of ['10.0.0.5', '192.168.1.20', '203.0.113.7', '::ffff:10.0.0.5', 'fe80::1', undefined])
      expect(showsHealthDetail(remote, 'loopback'), String(remote)).toBe(false);
    expect(showsHealthDetail('203.0.113.7', 'all')).toBe(true);
    expect(showsHealthDetail('127.0.0.1', 'none')).toBe(false);
  });

  it('answers the status alone when the caller does not get the detail', async () => {
    const health: AgentHealth = {
      ready: false,
      credentials: [{ id: 'cred_aaaaaaaaaaaa', stale: true }],
      sinks: [
        { name: 'http:x', credentialId: 'cred_aaaaaaaaaaaa', delivered: false, failures: 2, lastError: 'e' },
      ],
    };
    for (const [detail, expected] of [
      ['loopback', { status: 'not ready', ...health }],
      ['none', { status: 'not ready', ready: false }],
    ] as const) {
      const server = await startHealthServer('127.0.0.1', 0, () => health, detail);
      try {
        const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/ready`);
        expect(res.status).toBe(503);
        expect(await res.json()).toEqual(expected);
      } finally {
        server.close();
      }
    }
  });
});
