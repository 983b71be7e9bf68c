import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ExecSinkConfig, HttpSinkConfig } from '../../../apps/agent/src/config/agent-config.js';
import { type AgentOutboundSettings, outboundPolicy } from '../../../apps/agent/src/http/outbound.js';
import { SecretRedactor } from '../../../apps/agent/src/http/secret-redactor.js';
import { ExecSink } from '../../../apps/agent/src/sinks/exec-sink.js';
import { HttpSink } from '../../../apps/agent/src/sinks/http-sink.js';
import { SignalSink } from '../../../apps/agent/src/sinks/signal-sink.js';
import type { SinkContext } from '../../../apps/agent/src/sinks/sink.js';
import type { RenderInput, TokenSnapshot } from '../../../apps/agent/src/sinks/token-snapshot.js';
import { nextPollDelay } from '../../../apps/agent/src/watch/credential-watcher.js';

const token: TokenSnapshot = {
  credentialId: 'cred_aaaaaaaaaaaa',
  accessToken: 'secret-at-123',
  tokenType: 'Bearer',
  tokenVersion: 4,
  expiresAt: Date.now() + 60_000,
};
const input: RenderInput = { token, tokens: new Map([[token.credentialId, token]]), now: Date.now() };
const never = new AbortController().signal;
const silent = pino({ level: 'silent' });
const node = process.execPath;

/** The context of a sink whose registrar listens on this host, allowed explicitly as in a config. */
function sinkContext(outbound: Partial<AgentOutboundSettings> = {}): SinkContext {
  return {
    logger: silent,
    redactor: new SecretRedactor([], () => [token.accessToken]),
    outboundPolicy: outboundPolicy({
      allowHttpHosts: ['127.0.0.1', 'localhost'],
      allowLoopback: true,
      allowPrivate: false,
      allowCidrs: [],
      ...outbound,
    }),
  };
}
const localRegistrar = sinkContext();

/** An exec sink running `node` with the token in its environment, unless `config` says otherwise. */
const execSink = (config: Partial<ExecSinkConfig>) =>
  new ExecSink(token.credentialId, {
    type: 'exec',
    command: node,
    args: [],
    tokenVia: 'env',
    env: {},
    passEnv: [],
    timeoutMs: 10_000,
    ...config,
  });

/** An http sink POSTing the token in its body, unless `config` says otherwise. */
const httpSink = (config: Partial<HttpSinkConfig> & Pick<HttpSinkConfig, 'url'>, context = localRegistrar) =>
  new HttpSink(
    token.credentialId,
    {
      type: 'http',
      method: 'POST',
      headers: {},
      body: { token: '{{access_token}}' },
      timeoutMs: 2000,
      retries: { attempts: 3, baseMs: 10, capMs: 10 },
      ...config,
    },
    context,
  );

/** A file in a fresh temporary directory, for a command to write what it saw. */
const scratchFile = (name: string) => join(mkdtempSync(join(tmpdir(), 'tk-sink-')), name);

/** What a sink's run failed with, as text ('' when it succeeded). */
const failureOf = (run: Promise<unknown>) =>
  run.then(
    () => '',
    (e: unknown) => String(e),
  );

/** Starts `server` on a free port of 127.0.0.1 and returns the port. */
async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

describe('exec sink', () => {
  it('passes the token in TK_ACCESS_TOKEN, never argv', async () => {
    const out = scratchFile('out.json');
    const script = `require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify({ env: process.env.TK_ACCESS_TOKEN, v: process.env.TK_TOKEN_VERSION, key: process.env.TK_API_KEY ?? null, argv: process.argv }))`;
    process.env.TK_API_KEY = 'tk_agent_own_key';
    try {
      await execSink({ args: ['-e', script] }).run(input, never);
    } finally {
      delete process.env.TK_API_KEY;
    }
    const seen = JSON.parse(readFileSync(out, 'utf8'));
    expect(seen).toMatchObject({ env: 'secret-at-123', v: '4', key: null });
    expect(JSON.stringify(seen.argv)).not.toContain('secret-at-123');
  });

  it('gives the command a clean environment: allow-listed and named variables, never an API key', async () => {
    const out = scratchFile('env.json');
    const script = `require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(process.env))`;
    const planted = {
      TOKENKEEPER_API_KEY: 'tk_deploy_key_of_the_agent',
      TK_API_KEY: 'tk_agent_own_key',
      TK_ENCRYPTION_KEYS: 'k1:c2VjcmV0',
      PAYMENTS_API_KEY: 'not-for-the-command',
      AGENT_UNRELATED: 'unrelated',
      NEURON_HOTKEY: '5F-hotkey',
    };
    Object.assign(process.env, planted);
    try {
      await execSink({
        args: ['-e', script],
        env: { NEURON_NETWORK: 'finney' },
        // Refused by the schema; the sink refuses them again if a config slipped through.
        passEnv: ['NEURON_HOTKEY', 'TOKENKEEPER_API_KEY', 'PAYMENTS_API_KEY'],
      }).run(input, never);
    } finally {
      for (const name of Object.keys(planted)) delete process.env[name];
    }
    const env = JSON.parse(readFileSync(out, 'utf8')) as Record<string, string>;
    const dump = JSON.stringify(env);
    for (const name of [
      'TOKENKEEPER_API_KEY',
      'TK_API_KEY',
      'TK_ENCRYPTION_KEYS',
      'PAYMENTS_API_KEY',
      'AGENT_UNRELATED',
    ])
      expect(env[name], name).toBeUndefined();
    for (const value of ['tk_deploy_key_of_the_agent', 'tk_agent_own_key', 'c2VjcmV0', 'not-for-the-command'])
      expect(dump).not.toContain(value);
    expect(env).toMatchObject({
      PATH: process.env.PATH,
      NEURON_HOTKEY: '5F-hotkey',
      NEURON_NETWORK: 'finney',
      TK_ACCESS_TOKEN: 'secret-at-123',
      TK_CREDENTIAL_ID: token.credentialId,
    });
    // Node itself may add a few variables of its own; nothing else comes from the agent.
    const allowed = new Set([
      ...['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'LC_ALL', 'LC_CTYPE'],
      ...['LC_MESSAGES', 'TZ', 'TMPDIR', 'NEURON_HOTKEY', 'NEURON_NETWORK'],
      ...['TK_ACCESS_TOKEN', 'TK_CREDENTIAL_ID', 'TK_TOKEN_TYPE', 'TK_TOKEN_VERSION', 'TK_EXPIRES_AT'],
    ]);
    expect(Object.keys(env).filter((name) => !allowed.has(name))).toEqual([]);
  });

  it('refuses a token with a NUL byte for the environment without quoting it', async () => {
    const bad = { ...token, accessToken: 'nul-token-secret\u0000injected-part' };
    const err = await failureOf(execSink({ args: ['-e', ''] }).run({ ...input, token: bad }, never));
    expect(err).toMatch(/TK_ACCESS_TOKEN of cred_aaaaaaaaaaaa holds a NUL character/);
    expect(err).not.toMatch(/nul-token-secret|injected-part/);
  });

  it('passes the token on stdin when asked, and not in the environment', async () => {
    const out = scratchFile('out.json');
    const script = `let s='';process.stdin.on('data',d=>s+=d).on('end',()=>require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify({ stdin: s, env: process.env.TK_ACCESS_TOKEN ?? null })))`;
    await execSink({ args: ['-e', script], tokenVia: 'stdin' }).run(input, never);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual({ stdin: 'secret-at-123', env: null });
  });

  it('fails on a non-zero exit and on a timeout', async () => {
    const sink = (args: string[], timeoutMs: number) => execSink({ args, timeoutMs });
    await expect(sink(['-e', 'process.exit(3)'], 10_000).run(input, never)).rejects.toThrow(/exited with 3/);
    const started = Date.now();
    await expect(sink(['-e', 'setTimeout(()=>{}, 60000)'], 300).run(input, never)).rejects.toThrow(
      /timed out after 300 ms/,
    );
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('http sink', () => {
  it('POSTs the rendered body and retries 5xx until it is accepted', async () => {
    const registration = { uid: 1, chain: 'bittensor', netuid: 2, type: 'miner', account: 'acct' };
    const bodies: unknown[] = [];
    let calls = 0;
    const server = createServer((req, res) => {
      let text = '';
      req
        .on('data', (d) => (text += d))
        .on('end', () => {
          calls += 1;
          if (calls < 3) return res.writeHead(503).end();
          bodies.push({ body: JSON.parse(text), auth: req.headers.authorization, path: req.url });
          res.writeHead(200).end('{}');
        });
    });
    const port = await listen(server);
    try {
      const sink = httpSink({
        url: `http://127.0.0.1:${port}/sapi/node/neuron/register`,
        headers: { authorization: 'Bearer {{access_token}}' },
        body: { ...registration, token: '{{access_token}}' },
        retries: { attempts: 5, baseMs: 20, capMs: 50 },
      });
      await sink.run(input, never);
    } finally {
      server.close();
    }
    expect(calls).toBe(3);
    expect(bodies).toEqual([
      {
        body: { ...registration, token: 'secret-at-123' },
        auth: 'Bearer secret-at-123',
        path: '/sapi/node/neuron/register',
      },
    ]);
  });

  it('gives up at once on a 4xx and reports connection failures without the token', async () => {
    const server = createServer((_req, res) => res.writeHead(400).end());
    const port = await listen(server);
    const sink = (url: string) =>
      httpSink({ url, timeoutMs: 500, retries: { attempts: 2, baseMs: 10, capMs: 10 } });
    await expect(sink(`http://127.0.0.1:${port}/r`).run(input, never)).rejects.toThrow(/answered 400/);
    server.close();
    const err = await failureOf(sink(`http://127.0.0.1:${port}/r`).run(input, never));
    expect(err).toMatch(/ECONNREFUSED/);
    expect(err).not.toContain('secret-at-123');
  });
});

describe('http sink: what may be sent where', () => {
  /** A registrar that records every request it receives. */
  async function registrar() {
    const received: string[] = [];
    const server = createServer((req, res) => {
      received.push(`${req.method} ${req.url} ${JSON.stringify(req.headers)}`);
      req.resume().on('end', () => res.writeHead(200).end('{}'));
    });
    const port = await listen(server);
    return { received, port, close: () => new Promise((r) => server.close(r)) };
  }
  const sink = (url: string, context = localRegistrar) =>
    httpSink({ url, headers: { authorization: 'Bearer {{access_token}}' } }, context);
  let server: Awaited<ReturnType<typeof registrar>>;
  beforeEach(async () => {
    server = await registrar();
  });
  afterEach(() => server.close());

  it('refuses a token with CR/LF for a header, names the header, never quotes the token', async () => {
    const bad = { ...token, accessToken: 'crlf-secret-part1\r\nX-Injected: crlf-secret-part2' };
    const err = await failureOf(
      sink(`http://127.0.0.1:${server.port}/r`).run({ ...input, token: bad }, never),
    );
    expect(err).toMatch(
      /header authorization rendered from credential cred_aaaaaaaaaaaa holds a character not allowed/,
    );
    expect(err).not.toMatch(/crlf-secret|X-Injected/);
    expect(server.received).toEqual([]);
  });

  it('calls a registrar on this host only when the configuration allows loopback', async () => {
    const url = `http://127.0.0.1:${server.port}/register`;
    const refused = await failureOf(sink(url, sinkContext({ allowLoopback: false })).run(input, never));
    expect(refused).toMatch(
      /refused by the outbound policy \(loopback\): 127\.0\.0\.1 is a loopback address; set outbound\.allowLoopback/,
    );
    // A name is checked on the address it resolves to, when connecting.
    const byName = await failureOf(
      sink(`http://localhost:${server.port}/register`, sinkContext({ allowLoopback: false })).run(
        input,
        never,
      ),
    );
    expect(byName).toMatch(/refused by the outbound policy \(loopback\): localhost \(/);
    const plainHttp = await failureOf(sink(url, sinkContext({ allowHttpHosts: [] })).run(input, never));
    expect(plainHttp).toMatch(/\(https_required\).*outbound\.allowHttpHosts/);
    const metadata = await failureOf(sink('http://169.254.169.254/latest').run(input, never));
    expect(metadata).toMatch(/\(metadata\)/);
    expect(server.received).toEqual([]);
    await sink(url).run(input, never);
    expect(server.received).toHaveLength(1);
  });
});

describe('signal sink', () => {
  it('sends the configured signal to the pid in the pid file', async () => {
    const child = spawn(
      node,
      [
        '-e',
        "process.on('SIGUSR2', () => { console.log('got'); process.exit(0) }); setInterval(()=>{}, 1000); console.log('ready')",
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise((r) => child.stdout.once('data', r));
    const pidFile = join(mkdtempSync(join(tmpdir(), 'tk-sig-')), 'app.pid');
    writeFileSync(pidFile, `${child.pid}\n`);
    const exited = new Promise((r) => child.once('exit', r));
    await new SignalSink(token.credentialId, { type: 'signal', pidFile, signal: 'SIGUSR2' }).run();
    expect(await exited).toBe(0);
    writeFileSync(pidFile, 'garbage');
    await expect(
      new SignalSink(token.credentialId, { type: 'signal', pidFile, signal: 'SIGHUP' }).run(),
    ).rejects.toThrow(/does not hold a process id/);
  });
});

describe('watching', () => {
  it('polls just after the scheduled refresh, before the token runs short, and at least every interval', () => {
    const now = 1_000_000;
    const status = {
      id: 'c',
      state: 'active',
      tokenVersion: 2,
      refreshAt: now + 5000,
      expiresAt: now + 9000,
    };
    const t = { ...token, expiresAt: now + 9000 };
    expect(nextPollDelay(status, t, now, 30_000, 0)).toBe(5300);
    expect(nextPollDelay(status, t, now, 30_000, 6000)).toBe(3000);
    expect(nextPollDelay(status, t, now, 2000, 0)).toBe(2000);
    expect(nextPollDelay({ ...status, refreshAt: now - 10 }, t, now, 30_000, 0)).toBe(1000);
    expect(nextPollDelay({ ...status, tokenVersion: 0 }, undefined, now, 30_000, 0)).toBe(1000);
    expect(nextPollDelay(status, { ...t, expiresAt: now - 1 }, now, 30_000, 0)).toBe(200);
  });
});
