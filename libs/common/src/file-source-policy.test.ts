import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';
import {
  FileSourcePolicy,
  FileSourceRefusedError,
  FileSourceUnavailableError,
} from './file-source-policy.js';

/** What opening `path` ends in: the text read, or the error's class and message. */
async function outcome(policy: FileSourcePolicy, path: string): Promise<string> {
  try {
    const handle = await policy.open(path);
    try {
      return `read:${(await handle.readFile('utf8')).trim()}`;
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof FileSourceRefusedError) return `refused:${err.message}`;
    if (err instanceof FileSourceUnavailableError) return `unavailable:${err.errno}`;
    throw err;
  }
}

describe('FileSourcePolicy, lexical check (what the API applies)', () => {
  const policy = new FileSourcePolicy(['/run/tokens', '/var/lib/svid/']);

  it('accepts files strictly inside an allowed directory', () => {
    expect(policy.refusal('/run/tokens/jwt')).toBeUndefined();
    expect(policy.refusal('/run/tokens/a/b.token')).toBeUndefined();
    expect(policy.refusal('/var/lib/svid/jwt_svid.token')).toBeUndefined();
  });

  it('refuses everything when no directory is configured', () => {
    const none = new FileSourcePolicy();
    expect(none.enabled).toBe(false);
    expect(none.refusal('/run/tokens/jwt')).toBe('disabled');
    expect(() => none.check('/proc/self/environ')).toThrow(
      'file token sources are disabled on this server: the operator sets TK_FILE_SOURCE_DIRS',
    );
  });

  it.each([
    'relative/jwt',
    '',
    '/run/tokens/../../etc/passwd',
    '/run/tokens/./jwt',
    '/run/tokens//jwt',
    '/run/tokens/jwt/',
    '/run/tokens/j\u0000wt',
    '/run/tokens/j\nwt',
    `/run/tokens/${'a'.repeat(4096)}`,
  ])('refuses the malformed path %j', (path) => {
    expect(policy.refusal(path)).toBe('malformed');
  });

  it.each([
    '/proc/self/environ',
    '/etc/hostname',
    '/run/tokens',
    '/run/tokensx/jwt',
    '/run/token',
    '/var/lib/svid',
  ])('refuses %s, outside the allowed directories', (path) => {
    expect(policy.refusal(path)).toBe('outside');
  });

  it('never reaches into /proc, /sys or /dev even if a directory above them were listed', () => {
    const broad = new FileSourcePolicy(['/']);
    for (const path of ['/proc/self/environ', '/sys/kernel/x', '/dev/zero', '/dev']) {
      expect(broad.refusal(path)).toBe('outside');
    }
  });
});

describe('FileSourcePolicy, resolution before a read (what the worker applies)', () => {
  let root: string;
  let allowed: string;
  let outside: string;
  let policy: FileSourcePolicy;

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'tk-file-sources-'));
    allowed = join(root, 'allowed');
    outside = join(root, 'outside');
    mkdirSync(join(allowed, 'sub'), { recursive: true });
    mkdirSync(join(root, 'other'));
    mkdirSync(outside);
    writeFileSync(join(allowed, 'jwt'), 'inside-token\n');
    writeFileSync(join(allowed, 'sub', 'jwt'), 'nested-token');
    writeFileSync(join(root, 'other', 'jwt'), 'other-allowed-token');
    writeFileSync(join(outside, 'secret'), 'OUTSIDE-SECRET');
    symlinkSync(join(allowed, 'jwt'), join(allowed, 'link-inside'));
    symlinkSync(join(root, 'other', 'jwt'), join(allowed, 'link-other-allowed'));
    symlinkSync(join(outside, 'secret'), join(allowed, 'link-out'));
    symlinkSync(join(outside, 'absent'), join(allowed, 'link-out-dangling'));
    symlinkSync('/proc/self/environ', join(allowed, 'link-proc'));
    symlinkSync(outside, join(allowed, 'dir-out'));
    symlinkSync(allowed, join(root, 'allowed-link'));
    execFileSync('mkfifo', [join(allowed, 'fifo')]);
    policy = new FileSourcePolicy([allowed, join(root, 'other')]);
  });

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('reads a regular file inside, directly, through a nested directory, or through a link staying inside', async () => {
    expect(await outcome(policy, join(allowed, 'jwt'))).toBe('read:inside-token');
    expect(await outcome(policy, join(allowed, 'sub', 'jwt'))).toBe('read:nested-token');
    expect(await outcome(policy, join(allowed, 'link-inside'))).toBe('read:inside-token');
    expect(await outcome(policy, join(allowed, 'link-other-allowed'))).toBe('read:other-allowed-token');
  });

  it('resolves an allowed directory that is itself a link', async () => {
    const viaLink = new FileSourcePolicy([join(root, 'allowed-link')]);
    expect(await outcome(viaLink, join(root, 'allowed-link', 'jwt'))).toBe('read:inside-token');
  });

  it('reports a missing file inside as unavailable (transient), naming ENOENT', async () => {
    expect(await outcome(policy, join(allowed, 'not-yet-written'))).toBe('unavailable:ENOENT');
    expect(await outcome(policy, join(allowed, 'sub', 'missing', 'jwt'))).toBe('unavailable:ENOENT');
  });

  it('refuses links leading out the same way whether or not their target exists', async () => {
    const refused = `refused:${new FileSourceRefusedError('outside').message}`;
    expect(await outcome(policy, join(allowed, 'link-out'))).toBe(refused);
    expect(await outcome(policy, join(allowed, 'link-out-dangling'))).toBe(refused);
    expect(await outcome(policy, join(allowed, 'link-proc'))).toBe(refused);
    expect(await outcome(policy, join(allowed, 'dir-out', 'secret'))).toBe(refused);
    expect(await outcome(policy, join(allowed, 'dir-out', 'absent'))).toBe(refused);
  });

  it('refuses what is not a regular file: a FIFO (without waiting for a writer) and a directory', async () => {
    const refused = `refused:${new FileSourceRefusedError('outside').message}`;
    expect(await outcome(policy, join(allowed, 'fifo'))).toBe(refused);
    expect(await outcome(policy, join(allowed, 'sub'))).toBe(refused);
  });

  it('refuses paths outside, existing or not, with one message and without looking at them', async () => {
    const refused = `refused:${new FileSourceRefusedError('outside').message}`;
    expect(await outcome(policy, join(outside, 'secret'))).toBe(refused);
    expect(await outcome(policy, join(outside, 'absent'))).toBe(refused);
    expect(await outcome(policy, '/proc/self/environ')).toBe(refused);
    expect(await outcome(policy, `${allowed}/../outside/secret`)).toBe(
      `refused:${new FileSourceRefusedError('malformed').message}`,
    );
  });

  it('refuses every file when no directory is allowed (a credential registered before the setting)', async () => {
    expect(await outcome(new FileSourcePolicy(), join(allowed, 'jwt'))).toBe(
      `refused:${new FileSourceRefusedError('disabled').message}`,
    );
  });
});

describe('TK_FILE_SOURCE_DIRS', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'tk-file-source-dirs-'));
    symlinkSync('/proc/self', join(root, 'proc-link'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('is empty by default: file sources are off', () => {
    expect(loadConfig({}).fileSources).toEqual({ dirs: [] });
  });

  it('takes absolute directories separated by commas or colons, normalized', () => {
    expect(
      loadConfig({ TK_FILE_SOURCE_DIRS: '/run/spire/, /var/lib/tokens:/run/spire' }).fileSources,
    ).toEqual({
      dirs: ['/run/spire', '/var/lib/tokens'],
    });
  });

  it.each([
    ['relative/dir', 'must be an absolute path'],
    ['/', 'must not be the root directory'],
    ['/proc', 'must not be or lie inside /proc, /sys, /dev'],
    ['/proc/self', 'must not be or lie inside'],
    ['/sys/kernel', 'must not be or lie inside'],
    ['/dev', 'must not be or lie inside'],
    ['/dev/shm/', 'must not be or lie inside'],
    ['/run/../proc/1', 'must not be or lie inside'],
  ])('refuses %j at boot', (value, message) => {
    expect(() => loadConfig({ TK_FILE_SOURCE_DIRS: value })).toThrow(ConfigError);
    expect(() => loadConfig({ TK_FILE_SOURCE_DIRS: value })).toThrow(message);
  });

  it('refuses a directory that resolves into /proc', () => {
    expect(() => loadConfig({ TK_FILE_SOURCE_DIRS: join(root, 'proc-link') })).toThrow(
      /TK_FILE_SOURCE_DIRS entry ".*proc-link" must not be or lie inside/,
    );
  });
});
