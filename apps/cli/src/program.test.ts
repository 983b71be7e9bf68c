import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../../agent/src/config/load-config.js';
import { configPath, resolveConnection } from './cli-config.js';
import { exitCodeForStatus } from './cli-error.js';
import { ExitCode } from './exit-codes.js';
import { runCli } from './program.js';

interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

type Handler = (req: Recorded, res: ServerResponse) => void;

/** A local HTTP server playing the API; each test sets the handler. */
let server: Server;
let baseUrl: string;
let handler: Handler = (_req, res) => res.writeHead(500).end();
const requests: Recorded[] = [];
let home: string;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'tk-cli-unit-'));
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => {
      text += c.toString();
    });
    req.on('end', () => {
      const rec = {
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        body: text ? JSON.parse(text) : undefined,
      };
      requests.push(rec);
      handler(rec, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  await rm(home, { recursive: true, force: true });
});

const json = (res: ServerResponse, status: number, body: unknown, type = 'application/json') =>
  res.writeHead(status, { 'content-type': type }).end(JSON.stringify(body));

async function cli(args: string[], env: Record<string, string> = {}, stdinText = '') {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, cb) {
        append(chunk.toString());
        cb();
      },
    });
  const stdin = new PassThrough();
  stdin.end(stdinText);
  const code = await runCli(args, {
    stdout: sink((s) => {
      out += s;
    }),
    stderr: sink((s) => {
      err += s;
    }) as unknown as NodeJS.WriteStream,
    stdin,
    env: { XDG_CONFIG_HOME: home, TOKENKEEPER_URL: baseUrl, ...env },
    now: () => Date.parse('2026-11-24T12:00:00.000Z'),
  });
  return { code, out, err };
}

describe('usage errors exit 1', () => {
  it.each([
    [['bogus']],
    [['creds', 'show']],
    [['creds', 'ls', '--limit', 'ten']],
    [['creds', 'add', '--label', 'novalue']],
    [['token', 'get', 'cred_x', '--min-ttl', '-5']],
    [['import', 'oauth-tokens', '/nonexistent-dir']],
  ])('%j', async (args) => {
    const { code, err } = await cli(args);
    expect(code).toBe(ExitCode.Usage);
    expect(err).toMatch(/error/);
  });

  it('help and version exit 0', async () => {
    expect((await cli(['--help'])).code).toBe(0);
    expect((await cli(['--version'])).out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe('talking to the API', () => {
  it('creds add sends flags, @file secrets and --field values as one JSON body with the API key', async () => {
    const secretFile = join(home, 'rt.txt');
    await writeFile(secretFile, 'refresh-secret\n');
    handler = (req, res) =>
      json(res, 201, {
        id: 'cred_abcdefghijk',
        kind: 'oauth2.refresh_token',
        state: 'pending',
        ...(req.body as object),
      });
    requests.length = 0;
    const { code, out } = await cli(
      [
        'creds',
        'add',
        '--name',
        'gh',
        '--label',
        'team=a',
        '--token-endpoint',
        'https://idp/token',
        '--client-id',
        'cid',
        '--refresh-token',
        `@${secretFile}`,
        '--min-buffer',
        '5',
        '--field',
        'expiresIn=60',
      ],
      { TOKENKEEPER_API_KEY: 'tk_test' },
    );
    expect(code).toBe(0);
    expect(out).toBe('cred_abcdefghijk\n');
    expect(requests[0]!.headers.authorization).toBe('Bearer tk_test');
    expect(requests[0]!.body).toEqual({
      kind: 'oauth2.refresh_token',
      name: 'gh',
      labels: { team: 'a' },
      tokenEndpoint: 'https://idp/token',
      clientId: 'cid',
      refreshToken: 'refresh-secret',
      policy: { minBufferSeconds: 5 },
      expiresIn: 60,
    });
  });

  it('a validation problem exits 2 and prints title, detail, field errors and a hint', async () => {
    handler = (_req, res) =>
      json(
        res,
        422,
        {
          title: 'The credential cannot be used as given',
          status: 422,
          detail: 'tokenEndpoint: give tokenEndpoint, or issuer to discover it',
          errors: [{ field: 'tokenEndpoint', message: 'give tokenEndpoint, or issuer to discover it' }],
        },
        'application/problem+json',
      );
    const { code, err } = await cli(['creds', 'add', '--refresh-token', 'x']);
    expect(code).toBe(ExitCode.Api);
    expect(err).toContain('The credential cannot be used as given: tokenEndpoint: give tokenEndpoint');
    expect(err).toContain('  - tokenEndpoint: give tokenEndpoint, or issuer to discover it');
    expect(err).toContain('hint: fix the fields');
  });

  it('maps 404, 401 and 503 to their exit codes', async () => {
    handler = (_req, res) => json(res, 404, { title: 'Credential not found', code: 'CREDENTIAL_NOT_FOUND' });
    expect((await cli(['creds', 'show', 'cred_missing000'])).code).toBe(ExitCode.NotFound);
    handler = (_req, res) => json(res, 401, { title: 'Unauthorized' });
    const auth = await cli(['creds', 'ls']);
    expect(auth.code).toBe(ExitCode.Auth);
    expect(auth.err).toContain('tokenkeeper login');
    handler = (_req, res) => json(res, 503, { title: 'No valid token available', reason: 'auth' });
    const unavailable = await cli(['token', 'get', 'cred_x']);
    expect(unavailable.code).toBe(ExitCode.Unavailable);
    expect(unavailable.err).toContain('creds update');
  });

  it("prints a problem's texts without the terminal control characters in them, and bounded", async () => {
    const esc = '\u001b]0;owned\u0007\u001b[2J';
    handler = (_req, res) =>
      json(res, 422, {
        title: `Bad${esc}`,
        detail: `detail${esc}${'d'.repeat(10_000)}`,
        code: 'INVALID_CREDENTIAL_INPUT',
        errors: [{ field: `f${esc}`, message: `m${esc}` }],
      });
    const { code, err } = await cli(['creds', 'show', 'cred_x']);
    expect(code).toBe(ExitCode.Api);
    expect(err).toContain('tokenkeeper: error: Bad');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for them is the point
    expect(err).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(err.length).toBeLessThan(4_096);
  });

  it('an unreachable API exits 5 and names where the URL came from', async () => {
    const { code, err } = await cli(['creds', 'ls'], { TOKENKEEPER_URL: 'http://127.0.0.1:9' });
    expect(code).toBe(ExitCode.Unavailable);
    expect(err).toContain('cannot reach the tokenkeeper API at http://127.0.0.1:9');
    expect(err).toContain('TOKENKEEPER_URL');
  });

  it('token get prints the token and a newline only; warnings go to stderr', async () => {
    handler = (req, res) => {
      expect(req.url).toBe('/v1/credentials/cred_abcdefghijk/token?minTtl=120');
      res.setHeader('tokenkeeper-warning', 'refresh failed; serving cached token');
      json(res, 200, {
        accessToken: 'at-123',
        tokenType: 'Bearer',
        tokenVersion: 3,
        expiresAt: '',
        expiresIn: 300,
      });
    };
    const { code, out, err } = await cli(['token', 'get', 'cred_abcdefghijk', '--min-ttl', '120']);
    expect(code).toBe(0);
    expect(out).toBe('at-123\n');
    expect(err).toContain('warning: refresh failed');
  });

  it('creds ls shows a table with time to expiry, and --json the items', async () => {
    handler = (_req, res) =>
      json(res, 200, {
        items: [
          {
            id: 'cred_abcdefghijk',
            name: 'gh',
            kind: 'oauth2.refresh_token',
            state: 'active',
            tokenVersion: 2,
            expiresAt: '2026-11-24T12:04:12.000Z',
            refreshAt: '2026-11-24T12:02:00.000Z',
            failures: 0,
            labels: {},
          },
        ],
      });
    const table = await cli(['creds', 'ls']);
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/^ID\s+NAME\s+KIND\s+STATE/);
    expect(table.out).toContain('in 4m12s');
    expect(table.out).toContain('in 2m00s');
    const asJson = await cli(['--json', 'creds', 'ls']);
    expect(JSON.parse(asJson.out)).toHaveLength(1);
    expect(JSON.parse((await cli(['creds', 'ls', '--json'])).out)[0].id).toBe('cred_abcdefghijk');
  });

  it('events tail reads the global feed, and falls back to the credential history on older servers', async () => {
    const event = (revision: number, type: string) => ({
      type,
      credentialId: 'cred_abcdefghijk',
      revision,
      at: '2026-11-24T12:00:00.000Z',
      data: { tokenVersion: revision - 1, expiresAt: '2026-11-24T12:01:00.000Z' },
    });
    handler = (req, res) => {
      if (req.url.startsWith('/v1/events')) {
        const after = new URL(req.url, baseUrl).searchParams.get('after');
        return json(
          res,
          200,
          after
            ? { items: [], nextCursor: after }
            : { items: [{ ...event(1, 'credential.registered'), cursor: 'c1' }], nextCursor: 'c1' },
        );
      }
      json(res, 500, {});
    };
    const feed = await cli(['events', 'tail', '--credential', 'cred_abcdefghijk']);
    expect(feed.code).toBe(0);
    expect(feed.out).toBe(
      '2026-11-24T12:00:00.000Z  cred_abcdefghijk  credential.registered  v0  expires in 1m00s\n',
    );

    requests.length = 0;
    handler = (req, res) => {
      if (req.url.startsWith('/v1/events'))
        return json(res, 404, { title: 'Cannot GET /v1/events', code: 'NOT_FOUND' });
      const after = Number(new URL(req.url, baseUrl).searchParams.get('after') ?? 0);
      json(res, 200, {
        items: [event(1, 'credential.registered'), event(2, 'token.updated')].filter(
          (e) => e.revision > after,
        ),
      });
    };
    const history = await cli([
      'events',
      'tail',
      '--credential',
      'cred_abcdefghijk',
      '--type',
      'token.updated',
      '--json',
    ]);
    expect(history.code).toBe(0);
    expect(
      history.out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).revision),
    ).toEqual([2]);
    expect(requests.map((r) => r.url)).toEqual([
      '/v1/events?credentialId=cred_abcdefghijk&type=token.updated&limit=200',
      '/v1/credentials/cred_abcdefghijk/events?limit=200',
      '/v1/credentials/cred_abcdefghijk/events?after=2&limit=200',
    ]);
    const global = await cli(['events', 'tail']);
    expect(global.code).toBe(ExitCode.NotFound);
    expect(global.err).toContain('--credential');
  });

  it('login checks the key, then stores URL and key with mode 0600', async () => {
    handler = (req, res) => {
      if (req.headers.authorization !== 'Bearer tk_good') return json(res, 401, { title: 'Unauthorized' });
      json(res, 200, { items: [] });
    };
    const bad = await cli(['login', '--url', baseUrl, '--api-key', 'tk_bad'], { TOKENKEEPER_URL: '' });
    expect(bad.code).toBe(ExitCode.Auth);
    const good = await cli(
      ['login', '--url', `${baseUrl}/`, '--api-key', '-'],
      { TOKENKEEPER_URL: '' },
      'tk_good\n',
    );
    expect(good.code).toBe(0);
    const path = configPath({ XDG_CONFIG_HOME: home });
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ url: baseUrl, apiKey: 'tk_good' });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    // The stored values are used from now on; env still overrides.
    requests.length = 0;
    expect((await cli(['creds', 'ls'], { TOKENKEEPER_URL: '' })).code).toBe(0);
    expect(requests[0]!.headers.authorization).toBe('Bearer tk_good');
  });
});

describe('connection settings', () => {
  it('finds the config under XDG_CONFIG_HOME, else ~/.config', () => {
    expect(configPath({ XDG_CONFIG_HOME: '/x' })).toBe('/x/tokenkeeper/config.json');
    expect(configPath({ HOME: '/home/u' })).toBe('/home/u/.config/tokenkeeper/config.json');
  });

  it('lets the environment override the stored values', () => {
    const stored = { url: 'http://a:1/', apiKey: 'tk_a' };
    expect(resolveConnection(stored, {})).toMatchObject({ url: 'http://a:1', apiKey: 'tk_a' });
    expect(
      resolveConnection(stored, { TOKENKEEPER_URL: 'http://b:2', TOKENKEEPER_API_KEY: 'tk_b' }),
    ).toMatchObject({
      url: 'http://b:2',
      apiKey: 'tk_b',
      source: { url: 'env', apiKey: 'env' },
    });
    expect(resolveConnection({}, {}).url).toBe('http://127.0.0.1:8080');
  });

  it('maps HTTP statuses to exit codes', () => {
    expect([400, 401, 403, 404, 409, 422, 500, 503].map(exitCodeForStatus)).toEqual([2, 4, 4, 3, 2, 2, 2, 5]);
  });
});

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
