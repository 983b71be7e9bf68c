import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY_REFERENCE, agentDir, createAgentKey, writeAgentConfig } from '../support/agent.js';
import type { AgentReadiness, CredentialView } from '../support/api-types.js';
import { freePort } from '../support/net.js';
import { type OAuthServer, startOAuthServer } from '../support/oauth-server.js';
import { type Stack, startStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

/** A token a provider (or a compromised one) could hand out: a CR/LF would split a request's headers. */
const PART_ONE = 'hostile-token-part-one';
const PART_TWO = 'hostile-token-part-two';
const HOSTILE_TOKEN = `${PART_ONE}\r\nX-Injected: ${PART_TWO}`;

/**
 * The agent under hostile input: a command it runs sees no API key, a token with CR/LF is never
 * sent as a header and never shows up in its logs or its `/ready`.
 */
describe('agent hardening', () => {
  let stack: Stack;
  let oauth: OAuthServer;
  let registrar: Server | undefined;
  const received: string[] = [];

  beforeAll(async () => {
    oauth = await startOAuthServer();
    stack = await startStack({ name: 'agenthard' });
  });

  afterAll(async () => {
    await stack?.stop();
    registrar?.closeAllConnections();
    registrar?.close();
    await oauth?.stop();
  });

  it('runs commands without its key and keeps a CR/LF token out of headers, logs and /ready', async () => {
    const issued = await oauth.issueRefreshToken('basic');
    const { clientId, clientSecret } = oauth.clients.basic;
    const cred = await stack.admin.post<CredentialView>('/v1/credentials', {
      kind: 'oauth2.refresh_token',
      name: 'hostile-token',
      tokenEndpoint: oauth.tokenEndpoint,
      clientId,
      clientAuth: 'client_secret_basic',
      clientSecret,
      refreshToken: issued.refreshToken,
      accessToken: HOSTILE_TOKEN,
      expiresIn: 3600,
    });
    expect(cred.status, JSON.stringify(cred.body)).toBe(201);

    registrar = createServer((req, res) => {
      received.push(`${req.method} ${req.url} ${JSON.stringify(req.headers)}`);
      req.resume().on('end', () => res.writeHead(200).end('{}'));
    });
    await new Promise<void>((resolve) => registrar!.listen(0, '127.0.0.1', resolve));
    const registrarPort = (registrar.address() as { port: number }).port;

    const dir = agentDir('hardening');
    const envDump = join(dir, 'command-env.json');
    const healthPort = await freePort();
    const agentKey = await createAgentKey(stack.url);
    const config = writeAgentConfig(dir, {
      api: { url: stack.url, apiKey: API_KEY_REFERENCE, pollIntervalSeconds: 2, events: false },
      health: { host: '127.0.0.1', port: healthPort },
      outbound: { allowLoopback: true, allowHttpHosts: ['127.0.0.1'] },
      credentials: [
        {
          id: cred.body.id,
          sinks: [
            {
              type: 'http',
              url: `http://127.0.0.1:${registrarPort}/register`,
              headers: { authorization: 'Bearer {{access_token}}' },
              retries: { attempts: 2, baseMs: 10, capMs: 10 },
            },
            {
              type: 'exec',
              command: process.execPath,
              args: [
                '-e',
                `require('fs').writeFileSync(${JSON.stringify(envDump)}, JSON.stringify(process.env))`,
              ],
              tokenVia: 'stdin',
            },
          ],
        },
      ],
    });
    // The key under both names the shipped deploy files and the docs use.
    const agent = await stack.startAgent(config, agentKey, { TOKENKEEPER_API_KEY: agentKey });

    const ready = async () => {
      const res = await fetch(`http://127.0.0.1:${healthPort}/ready`);
      return { status: res.status, text: await res.text() };
    };
    let last = { status: 0, text: '' };
    await waitFor(
      async () => {
        last = await ready();
        const body = JSON.parse(last.text) as AgentReadiness;
        return (
          existsSync(envDump) && (body.sinks?.find((s) => s.name.startsWith('http:'))?.failures ?? 0) >= 1
        );
      },
      { timeoutMs: 20_000, message: 'the command ran and the registrar call failed' },
    );

    // The command: its token, none of the agent's keys.
    const env = JSON.parse(readFileSync(envDump, 'utf8')) as Record<string, string>;
    expect(env.TK_API_KEY).toBeUndefined();
    expect(env.TOKENKEEPER_API_KEY).toBeUndefined();
    expect(JSON.stringify(env)).not.toContain(agentKey);
    expect(env.TK_CREDENTIAL_ID).toBe(cred.body.id);

    // The registrar: nothing sent; /ready (asked from loopback, so with detail) says which header.
    expect(received).toEqual([]);
    expect(last.status).toBe(503);
    const http = (JSON.parse(last.text) as AgentReadiness).sinks!.find((s) => s.name.startsWith('http:'))!;
    expect(http.lastError).toMatch(
      new RegExp(
        `header authorization rendered from credential ${cred.body.id} holds a character not allowed`,
      ),
    );
    for (const piece of [PART_ONE, PART_TWO, 'X-Injected', agentKey]) expect(last.text).not.toContain(piece);

    expect(await agent.stop()).toBe(0);
    const logs = agent.logs();
    expect(logs).toContain('sink failed');
    for (const piece of [PART_ONE, PART_TWO, 'X-Injected', agentKey]) expect(logs).not.toContain(piece);
  });
});
