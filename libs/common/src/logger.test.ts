import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, PinoNestLogger, scrubText } from './logger.js';

const SECRET = 'rt-Zq8vW3kPnX2mL9sT4yB7';
const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEyMyJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const logger = createLogger('test', 'trace', stream);
  return { logger, text: () => lines.join('') };
}

describe('scrubText', () => {
  it('masks bearer/basic credentials and JWT-looking strings', () => {
    expect(scrubText(`Authorization: Bearer ${SECRET} and more`)).toBe(
      'Authorization: Bearer [redacted] and more',
    );
    expect(scrubText('header Basic dXNlcjpwYXNz')).toBe('header Basic [redacted]');
    expect(scrubText(`token=${JWT};`)).toBe('token=[redacted-jwt];');
    expect(scrubText('credential cred_abc123 refreshed')).toBe('credential cred_abc123 refreshed');
  });
});

describe('createLogger redaction', () => {
  it('redacts known secret fields at the top level and nested two deep', () => {
    const { logger, text } = capture();
    logger.info(
      { refreshToken: SECRET, grant: { client_secret: SECRET, inner: { accessToken: SECRET } } },
      'x',
    );
    logger.info({ req: { headers: { authorization: `Bearer ${SECRET}` } } }, 'request');
    const out = text();
    expect(out).not.toContain(SECRET);
    expect(out).toContain('[redacted]');
  });

  it('scrubs messages and error messages and stacks', () => {
    const { logger, text } = capture();
    logger.warn(`upstream said: Bearer ${SECRET}`);
    logger.error({ err: new Error(`provider echoed ${JWT}`) }, 'failed');
    const out = text();
    expect(out).not.toContain(SECRET);
    expect(out).not.toContain(JWT);
    expect(out).toContain('[redacted-jwt]');
  });

  it('keeps ids and non-secret fields readable', () => {
    const { logger, text } = capture();
    logger.info({ credentialId: 'cred_abcdefghij', tokenVersion: 3 }, 'token refreshed');
    const line = JSON.parse(text()) as Record<string, unknown>;
    expect(line).toMatchObject({ credentialId: 'cred_abcdefghij', tokenVersion: 3, msg: 'token refreshed' });
  });

  it('applies through the Nest adapter too', () => {
    const { logger, text } = capture();
    const nest = new PinoNestLogger(logger);
    nest.log({ msg: 'm', secrets: { refreshToken: SECRET } }, 'Ctx');
    nest.error(`boom Bearer ${SECRET}`, `stack with ${JWT}`, 'Ctx');
    nest.warn(new Error(`Basic ${Buffer.from(`u:${SECRET}`).toString('base64')}`));
    const out = text();
    expect(out).not.toContain(SECRET);
    expect(out).not.toContain(JWT);
    expect(out).not.toContain(Buffer.from(`u:${SECRET}`).toString('base64'));
  });
});

describe('PinoNestLogger start-up chatter', () => {
  it('logs route mapping and module loading at debug, other Nest messages at info', () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const nest = new PinoNestLogger(createLogger('test', 'info', stream));
    nest.log('Mapped {/v1/credentials, POST} route', 'RouterExplorer');
    nest.log('ApiModule dependencies initialized', 'InstanceLoader');
    nest.log('Nest application successfully started', 'NestApplication');
    expect(lines.join('')).not.toContain('Mapped');
    expect(lines.join('')).not.toContain('dependencies initialized');
    expect(lines.join('')).toContain('successfully started');
  });
});
