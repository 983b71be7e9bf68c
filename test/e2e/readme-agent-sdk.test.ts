import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CredentialView, TokenBody } from '../support/api-types.js';
import { type OAuthServer, startOAuthServer } from '../support/oauth-server.js';
import { TEST_ADMIN_KEY } from '../support/processes.js';
import { type Stack, startStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';
import { ROOT, readmeSection } from './readme-sections.js';

/**
 * The README's agent and SDK sections, run as a new user pastes them after the walk-through
 * (which left `TK`, `TK_KEY` and `ID` set and logged the command line in): the agent writes the
 * credential's current token to a file; the packed SDK installs into a fresh project from the
 * tarball alone and its example prints the token.
 */
describe('README agent and SDK sections', () => {
  let stack: Stack;
  let oauth: OAuthServer;
  let home: string;
  let credentialId: string;
  let env: NodeJS.ProcessEnv;

  /** Runs a README section in the clone, with the walk-through's state and the temp dirs swapped in. */
  const runSection = (name: string) => {
    const script = readmeSection(name)
      .replaceAll('/tmp/tk-agent', join(home, 'agent'))
      .replaceAll('/tmp/tk-sdk-demo', join(home, 'sdk-demo'));
    return spawnSync('bash', ['-e', '-o', 'pipefail', '-c', `ID=${credentialId}\n${script}`], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
      timeout: 40_000,
    });
  };

  const currentToken = async () =>
    (await stack.admin.get<TokenBody>(`/v1/credentials/${credentialId}/token?minTtl=0`)).body.accessToken;

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'tk-readme-agent-'));
    // Hour-long tokens: the token the agent and the SDK got is still the current one when compared.
    oauth = await startOAuthServer({ accessTokenTtl: 3600 });
    stack = await startStack({ name: 'readme-agent' });
    const reg = await stack.admin.post<CredentialView>('/v1/credentials', {
      kind: 'oauth2.client_credentials',
      name: 'demo',
      tokenEndpoint: oauth.tokenEndpoint,
      clientId: oauth.clients.clientCredentials.clientId,
      clientSecret: oauth.clients.clientCredentials.clientSecret,
      scope: 'api',
    });
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    credentialId = reg.body.id;
    await waitFor(
      async () =>
        (await stack.admin.get<CredentialView>(`/v1/credentials/${credentialId}`)).body.tokenVersion >= 1,
      { timeoutMs: 15_000, message: 'first token' },
    );
    env = {
      ...process.env,
      PATH: `${join(ROOT, 'node_modules/.bin')}:${process.env.PATH}`,
      XDG_CONFIG_HOME: join(home, 'config'),
      TK: stack.url,
      TK_KEY: TEST_ADMIN_KEY,
      // The tarball installs from the file alone: no registry is asked.
      npm_config_offline: 'true',
      npm_config_update_notifier: 'false',
      npm_config_cache: join(home, 'npm-cache'),
    };
    // The walk-through's login, which the agent section relies on for the API URL.
    const login = spawnSync(
      process.execPath,
      ['dist/apps/cli/src/main.js', 'login', '--url', stack.url, '--api-key', TEST_ADMIN_KEY],
      { cwd: ROOT, env, encoding: 'utf8', timeout: 20_000 },
    );
    expect(login.status, login.stderr).toBe(0);
  });

  afterAll(async () => {
    await stack?.stop();
    await oauth?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('runs the agent section as written: the agent writes the current token to the file', async () => {
    const run = runSection('agent');
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    const config = readFileSync(join(home, 'agent', 'agent.yaml'), 'utf8');
    expect(config).toContain(credentialId);
    expect(config).toContain(stack.url);
    expect(config).not.toContain(TEST_ADMIN_KEY);
    const written = readFileSync(join(home, 'agent', 'token'), 'utf8');
    expect(written).toBe(await currentToken());
    expect(run.stdout).toContain(written);
  });

  it('runs the SDK section as written: packed, installed offline into a fresh project, prints the token', async () => {
    const run = runSection('sdk');
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    const installed = JSON.parse(
      readFileSync(join(home, 'sdk-demo', 'node_modules/@tokenkeeper/client/package.json'), 'utf8'),
    ) as { name: string; dependencies?: unknown };
    expect(installed.name).toBe('@tokenkeeper/client');
    expect(installed.dependencies).toBeUndefined();
    const printed = run.stdout.trim().split('\n').at(-1);
    expect(printed).toBe(await currentToken());
  });
});
