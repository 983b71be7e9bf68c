import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

describe('REDIS_PASSWORD_FILE', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tk-redis-pw-'));
  const file = join(dir, 'redis-password');
  writeFileSync(file, 'p@ss:w/rd 1\n', { mode: 0o400 });

  it("gives REDIS_URL's user the password read from the file", () => {
    const config = loadConfig({ REDIS_URL: 'redis://tokenkeeper-api@redis:6379', REDIS_PASSWORD_FILE: file });
    const url = new URL(config.redisUrl);
    expect(url.username).toBe('tokenkeeper-api');
    expect(decodeURIComponent(url.password)).toBe('p@ss:w/rd 1');
    expect(url.host).toBe('redis:6379');
    expect(loadConfig({ REDIS_URL: 'redis://redis:6379/2', REDIS_PASSWORD_FILE: file }).redisUrl).toBe(
      `redis://:${encodeURIComponent('p@ss:w/rd 1')}@redis:6379/2`,
    );
    expect(
      loadConfig({ REDIS_URL: 'redis+cluster://tk@a:7000,b:7001', REDIS_PASSWORD_FILE: file }).redisUrl,
    ).toBe(`redis+cluster://tk:${encodeURIComponent('p@ss:w/rd 1')}@a:7000,b:7001`);
  });

  it('refuses a missing or empty file, and a URL that already has a password, naming the variable', () => {
    expect(() => loadConfig({ REDIS_PASSWORD_FILE: join(dir, 'nope') })).toThrow(ConfigError);
    expect(() => loadConfig({ REDIS_PASSWORD_FILE: join(dir, 'nope') })).toThrow(
      /REDIS_PASSWORD_FILE .*cannot be read \(ENOENT\)/,
    );
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    expect(() => loadConfig({ REDIS_PASSWORD_FILE: empty })).toThrow(/REDIS_PASSWORD_FILE .* is empty/);
    let message = '';
    try {
      loadConfig({ REDIS_URL: 'redis://u:inline-secret@h:6379', REDIS_PASSWORD_FILE: file });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/REDIS_URL already has a password/);
    expect(message).not.toContain('inline-secret');
    expect(message).not.toContain('p@ss');
  });
});
