import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../../agent/src/config/load-config.js';
import { ExitCode } from './exit-codes.js';
import { runCli } from './program.js';

let home: string;
beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'tk-agent-init-'));
});
afterAll(() => rm(home, { recursive: true, force: true }));

async function cli(args: string[], env: Record<string, string> = {}) {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, cb) {
        append(chunk.toString());
        cb();
      },
    });
  const code = await runCli(args, {
    stdout: sink((s) => {
      out += s;
    }),
    stderr: sink((s) => {
      err += s;
    }) as unknown as NodeJS.WriteStream,
    stdin: new PassThrough(),
    env: { XDG_CONFIG_HOME: home, ...env },
    now: () => Date.now(),
  });
  return { code, out, err };
}

describe('tokenkeeper agent init', () => {
  it('writes a configuration the agent accepts: the API, the credential, a token file; the key stays in the environment', async () => {
    const out = join(home, 'agent.yaml');
    const key = 'tk_secret-key-never-in-the-file';
    const r = await cli(
      ['agent', 'init', 'cred_abcdefghijk', '--out', out, '--token-file', '/run/app/token'],
      {
        TOKENKEEPER_URL: 'https://tk.example.com/',
        TOKENKEEPER_API_KEY: key,
      },
    );
    expect(r.code, r.err).toBe(ExitCode.Ok);
    expect(r.err).toContain('npx tokenkeeper agent run --config');
    const text = await readFile(out, 'utf8');
    expect(text).not.toContain(key);
    expect(text).toContain('apiKey: $' + '{TK_API_KEY}');
    const config = parseAgentConfig(text, { TK_API_KEY: key });
    expect(config.api).toMatchObject({ url: 'https://tk.example.com', apiKey: key, events: true });
    expect(config.credentials).toEqual([
      {
        id: 'cred_abcdefghijk',
        minTtl: 60,
        sinks: [{ type: 'file', format: 'raw', path: '/run/app/token', mode: 0o600 }],
      },
    ]);
    // Without the variable the agent refuses to start, naming it.
    expect(() => parseAgentConfig(text, {})).toThrow(/TK_API_KEY is not set/);
    // An existing file is kept unless --force.
    const again = await cli(['agent', 'init', 'cred_abcdefghijk', '--out', out]);
    expect(again.code).toBe(ExitCode.Usage);
    expect(again.err).toContain('--force');
    expect((await stat(out)).size).toBe(text.length);
  });

  it('takes the API URL, the key variable and min TTL from options, and prints to stdout with --out -', async () => {
    const r = await cli([
      'agent',
      'init',
      'cred_abcdefghijk',
      '--out',
      '-',
      '--api-url',
      'http://127.0.0.1:8080',
      '--api-key-env',
      'MY_KEY',
      '--min-ttl',
      '120',
    ]);
    expect(r.code, r.err).toBe(ExitCode.Ok);
    const config = parseAgentConfig(r.out, { MY_KEY: 'tk_k' });
    expect(config.api.url).toBe('http://127.0.0.1:8080');
    expect(config.credentials[0]?.minTtl).toBe(120);
    expect(config.credentials[0]?.sinks[0]).toMatchObject({ path: 'token' });
  });

  it('refuses what is not a credential id, or not a variable name, as a usage error', async () => {
    const bad = await cli(['agent', 'init', 'not-an-id', '--out', '-']);
    expect(bad.code).toBe(ExitCode.Usage);
    expect(bad.err).toContain('not a credential id');
    const env = await cli(['agent', 'init', 'cred_abcdefghijk', '--out', '-', '--api-key-env', 'A-B']);
    expect(env.code).toBe(ExitCode.Usage);
    expect(env.err).toContain('--api-key-env');
  });
});
