import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  API_KEY_REFERENCE,
  agentDir,
  createAgentKey,
  readInTightLoop,
  writeAgentConfig,
} from '../support/agent.js';
import type { CredentialView } from '../support/api-types.js';
import { freePort } from '../support/net.js';
import { basicRefreshTokenCredential } from '../support/oauth-server.js';
import { leakedSecrets } from '../support/redis-dump.js';
import { useStack } from '../support/stack.js';
import { sleep, waitFor } from '../support/wait.js';

interface TokenFile {
  access_token: string;
  refresh_token?: string;
  expires_at: number;
  token_type: string;
  scope: string;
}
interface McpConfig {
  mcpServers: Record<string, { command: string; args: string[]; env: Record<string, string> }>;
}

const RUN_MS = 25_000;
const readJson = <T>(path: string) => JSON.parse(readFileSync(path, 'utf8')) as T;

/**
 * Seed 001 (MCP gateway token refresher): the agent keeps `.oauth-tokens/<name>.json` and the MCP
 * client configs current while tokenkeeper refreshes 10 s tokens, a reader never sees a partial
 * file, the files survive an API outage, and the agent catches up when the API returns.
 */
describe('seed 001: MCP gateway token files kept current by the agent', () => {
  const stack = useStack({
    name: 'seed001',
    oauth: { accessTokenTtl: 10, rotateRefreshToken: true },
    env: { TK_SWEEP_INTERVAL_MS: '5000' },
  });
  let agentKey: string;
  const secrets = new Set<string>();

  beforeAll(async () => {
    agentKey = await createAgentKey(stack.url);
  });

  it('keeps .oauth-tokens/*.json, mcp.json and vscode_mcp.json current; readers never see a partial file', async () => {
    const client = stack.admin;
    const issued = await stack.oauth.issueRefreshToken('basic');
    const { clientSecret } = stack.oauth.clients.basic;
    const cc = stack.oauth.clients.clientCredentials;
    for (const s of [issued.refreshToken, issued.accessToken, clientSecret, cc.clientSecret, agentKey])
      secrets.add(s);
    const atlassian = await client.post<CredentialView>(
      '/v1/credentials',
      basicRefreshTokenCredential(stack.oauth, 'atlassian', issued.refreshToken),
    );
    expect(atlassian.status, JSON.stringify(atlassian.body)).toBe(201);
    const sre = await client.post<CredentialView>('/v1/credentials', {
      kind: 'oauth2.client_credentials',
      name: 'sre-gateway',
      issuer: stack.oauth.issuer,
      clientId: cc.clientId,
      clientSecret: cc.clientSecret,
      scope: 'api',
      policy: { minBufferSeconds: 1 },
    });
    expect(sre.status, JSON.stringify(sre.body)).toBe(201);
    const A = atlassian.body.id;
    const B = sre.body.id;

    const dir = agentDir('seed001');
    const tokens = join(dir, '.oauth-tokens');
    const servers = [
      { name: 'atlassian', url: 'https://gw.example.com/mcp/atlassian/mcp', credentialId: A },
      { name: 'sre-gateway', url: 'https://gw.example.com/mcp/sre-gateway/mcp', credentialId: B },
      { name: 'currenttime', url: 'https://gw.example.com/mcp/currenttime/mcp' },
    ];
    const healthPort = await freePort();
    const config = writeAgentConfig(dir, {
      api: { url: stack.url, apiKey: API_KEY_REFERENCE, pollIntervalSeconds: 5 },
      health: { port: healthPort },
      credentials: [
        {
          id: A,
          minTtl: 2,
          sinks: [
            { type: 'file', format: 'oauth-tokens-json', path: join(tokens, 'atlassian.json') },
            { type: 'file', format: 'mcp-json', path: join(tokens, 'mcp.json'), projectDir: dir, servers },
            { type: 'file', format: 'vscode-mcp-json', path: join(tokens, 'vscode_mcp.json'), servers },
          ],
        },
        {
          id: B,
          minTtl: 2,
          sinks: [{ type: 'file', format: 'oauth-tokens-json', path: join(tokens, 'sre-gateway.json') }],
        },
      ],
    });
    const agent = await stack.startAgent(config, agentKey);
    const ready = async () =>
      (await fetch(`http://127.0.0.1:${healthPort}/ready`).catch(() => undefined))?.status;
    await waitFor(async () => (await ready()) === 200, { timeoutMs: 20_000, message: 'agent ready' });

    const files = ['atlassian.json', 'sre-gateway.json', 'mcp.json', 'vscode_mcp.json'].map((f) =>
      join(tokens, f),
    );
    for (const f of files) expect(statSync(f).mode & 0o777, f).toBe(0o600);

    // A reader hammers every file while the agent rewrites them; meanwhile every second the
    // token in each file must be one the authorization server accepts.
    const reader = readInTightLoop(files, RUN_MS);
    const seen = { atlassian: new Set<string>(), sre: new Set<string>() };
    const stale: string[] = [];
    const end = Date.now() + RUN_MS;
    while (Date.now() < end) {
      const a = readJson<TokenFile>(files[0]!);
      const b = readJson<TokenFile>(files[1]!);
      const mcp = readJson<McpConfig>(files[2]!);
      const vscode = readJson<McpConfig>(files[3]!);
      const fromMcp = mcp.mcpServers.atlassian!.env.MCP_SERVER_AUTH_TOKEN!.replace(/^Bearer /, '');
      const fromVscode = (
        JSON.parse(vscode.mcpServers['sre-gateway']!.env.FETCH_HEADERS!) as { Authorization: string }
      ).Authorization.replace(/^Bearer /, '');
      for (const [name, token] of [
        ['atlassian.json', a.access_token],
        ['sre-gateway.json', b.access_token],
        ['mcp.json', fromMcp],
        ['vscode_mcp.json', fromVscode],
      ] as const) {
        secrets.add(token);
        if (!(await stack.oauth.introspect(token)).active)
          stale.push(`${name} at ${new Date().toISOString()}`);
      }
      expect(a.expires_at * 1000).toBeGreaterThan(Date.now());
      seen.atlassian.add(a.access_token);
      seen.sre.add(b.access_token);
      await sleep(1000); // the readers' pace over the run: sampling, not waiting for something
    }
    const result = await reader;
    expect(result.bad, result.samples.join('\n')).toBe(0);
    expect(result.reads).toBeGreaterThan(1000);
    expect(stale).toEqual([]);
    expect(seen.atlassian.size).toBeGreaterThanOrEqual(3);
    expect(seen.sre.size).toBeGreaterThanOrEqual(3);

    // Shapes of the seed's files, including the no-auth server.
    const a = readJson<TokenFile>(files[0]!);
    expect(Object.keys(a)).toEqual(['access_token', 'expires_at', 'token_type', 'scope']);
    expect(a.token_type.toLowerCase()).toBe('bearer');
    const mcp = readJson<McpConfig>(files[2]!);
    expect(Object.keys(mcp.mcpServers)).toEqual(['atlassian', 'sre-gateway', 'currenttime']);
    expect(mcp.mcpServers.currenttime).toEqual({
      command: 'uv',
      args: ['--directory', dir, 'run', 'mcp'],
      env: { MCP_SERVER_URL: 'https://gw.example.com/mcp/currenttime/mcp' },
    });
    const vscode = readJson<McpConfig>(files[3]!);
    expect(vscode.mcpServers.currenttime!.env).toEqual({
      FETCH_BASE_URL: 'https://gw.example.com/mcp/currenttime/mcp',
    });
    expect(vscode.mcpServers.atlassian!.args).toEqual(['-y', '@modelcontextprotocol/server-fetch']);
    for (const f of files) expect(statSync(f).mode & 0o777, f).toBe(0o600);
    expect(stack.oauth.counters.refreshTokenReuse).toBe(0);

    // The API goes away: the files stay as they were (still parseable), the agent stays live.
    await stack.api.stop();
    const before = readJson<TokenFile>(files[0]!).access_token;
    await waitFor(() => agent.logs().includes('cannot read the credential; keeping the last token'), {
      timeoutMs: 15_000,
      message: 'agent noticed the API outage',
    });
    for (const f of files) expect(() => readJson(f)).not.toThrow();
    expect((await fetch(`http://127.0.0.1:${healthPort}/live`)).status).toBe(200);
    // It comes back: the agent catches up with the tokens refreshed meanwhile.
    await stack.api.start();
    await waitFor(() => readJson<TokenFile>(files[0]!).access_token !== before, {
      timeoutMs: 20_000,
      message: 'agent caught up after the API outage',
    });
    await waitFor(async () => (await ready()) === 200, { timeoutMs: 15_000, message: 'agent ready again' });

    // SIGTERM: a prompt, clean exit.
    const stopping = Date.now();
    expect(await agent.stop()).toBe(0);
    expect(Date.now() - stopping).toBeLessThan(5000);
    expect(leakedSecrets(agent.logs(), secrets)).toEqual([]);
    expect(agent.logs()).toContain('sink delivered');
    expect(agent.logs()).toContain('event stream connected'); // the faster trigger beside polling
  });

  it('--once renders once and exits 0, or non-zero when a sink fails', async () => {
    const client = stack.admin;
    const cc = stack.oauth.clients.clientCredentials;
    const reg = await client.post<CredentialView>('/v1/credentials', {
      kind: 'oauth2.client_credentials',
      name: 'once',
      issuer: stack.oauth.issuer,
      clientId: cc.clientId,
      clientSecret: cc.clientSecret,
      scope: 'api',
    });
    expect(reg.status).toBe(201);
    await waitFor(
      async () => (await client.get<CredentialView>(`/v1/credentials/${reg.body.id}`)).body.tokenVersion > 0,
      { timeoutMs: 15_000 },
    );
    const dir = agentDir('seed001-once');
    const run = (sinks: unknown[]) => {
      const config = writeAgentConfig(dir, {
        api: { url: stack.url, apiKey: API_KEY_REFERENCE },
        credentials: [{ id: reg.body.id, sinks }],
      });
      // Asynchronously: a blocked event loop would stop draining the api's piped logs.
      const child = spawn(process.execPath, ['dist/apps/agent/src/main.js', '--config', config, '--once'], {
        env: { PATH: process.env.PATH ?? '', TK_API_KEY: agentKey },
      });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stdout += d.toString()));
      return new Promise<{ status: number | null; stdout: string }>((resolve) =>
        child.once('exit', (status) => resolve({ status, stdout })),
      );
    };
    const ok = await run([{ type: 'file', format: 'raw', path: join(dir, 'token') }]);
    expect(ok.status, ok.stdout).toBe(0);
    expect(readFileSync(join(dir, 'token'), 'utf8')).toMatch(/^\S{20,}$/);
    const failing = await run([
      { type: 'file', format: 'raw', path: join(dir, 'token2') },
      { type: 'exec', command: process.execPath, args: ['-e', 'process.exit(4)'] },
    ]);
    expect(failing.status, failing.stdout).toBe(1);
    expect(existsSync(join(dir, 'token2'))).toBe(true);
    expect(failing.stdout).toContain('exited with 4');
  });
});
